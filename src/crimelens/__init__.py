"""crimelens: open, accountable machine learning for public safety.

crimelens forecasts where *recorded* incidents concentrate, links incidents into
series, audits risk scores and place-based forecasts, manages evidence and keeps a
tamper-evident ledger of every use. See ``docs/`` and the README.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
