"""Page routes: each renders a template; the page's script fetches its data from the API."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crimelens import __version__

__all__ = ["PAGES", "mount_web"]

#: path -> (template, title, what the page shows, its limits)
PAGES: dict[str, tuple[str, str, str]] = {
    "/forecast": ("forecast.html", "Forecast map",
                  "Cells by forecast risk of recorded incidents; the top-k flagged; hit rate and PAI when the "
                  "window has recorded incidents."),
    "/backtests": ("backtests.html", "Backtests",
                   "How each forecast model would have done, week by week on past records: hit rate, PAI and PEI "
                   "with intervals, the paired comparison and the perfect-rate ceiling."),
    "/incidents": ("incidents.html", "Incident explorer",
                   "Recorded incidents by filter; the near-repeat surface around one incident."),
    "/nearrepeat": ("nearrepeat.html", "Near repeat",
                    "Knox tables of recorded incidents: how many pairs fall close in space and in time, against "
                    "what permuted times give, per distance and time band."),
    "/series": ("series.html", "Series view",
                "A candidate series on the map and its timeline, with the features linking each member."),
    "/risk": ("risk.html", "Risk models and audits",
              "Interpretable risk models fitted from a table, each with its card (cross-validated accuracy, "
              "error rates by group); ROC, calibration and error rates by group with intervals, from a stored audit."),
    "/feedback": ("feedback.html", "Feedback loops and exposure",
                  "How a forecast fed by its own patrol-driven records drifts from the truth, and the correction; "
                  "and who lives where a model's flags fall."),
    "/evidence": ("evidence.html", "Evidence",
                  "Cases and their evidence: intake with SHA-256, who holds each item, the custody record and "
                  "its gaps, re-hash verification."),
    "/redaction": ("redaction.html", "Redaction",
                   "Narratives and images redacted for release: each document or image reviewed by a person, "
                   "corrected where the detector missed or overreached, then released as an item of the case."),
    "/governance": ("governance.html", "Governance",
                    "Deployments and state, the human-review queue, the ledger with its signed head, model cards, "
                    "the annual report."),
}


def _static_dir() -> Path:
    return Path(str(resources.files("crimelens.web") / "static"))


def _templates() -> Environment:
    folder = Path(str(resources.files("crimelens.web") / "templates"))
    return Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]))


def mount_web(app: FastAPI) -> None:
    """Add the pages and ``/static`` to ``app``."""
    env = _templates()
    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")
    nav = [(path, title) for path, (_, title, _) in PAGES.items()]

    def render(name: str, **values: object) -> HTMLResponse:
        html = env.get_template(name).render(version=__version__, nav=nav, **values)
        return HTMLResponse(html, headers={"Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-src 'self'; font-src 'self'")})

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/login")

    @app.get("/login", include_in_schema=False)
    def login(request: Request) -> HTMLResponse:
        return render("login.html", title="Sign in", path="/login", about="", script="login.js")

    @app.get("/public", include_in_schema=False)
    def public() -> HTMLResponse:
        """Public participation: no sign-in; read deployments, comment, complain."""
        return render("public.html", title="Public participation", path="/public", about="", script="public.js")

    def page(path: str, template: str, title: str, about: str) -> None:
        def view() -> HTMLResponse:
            return render(template, title=title, path=path, about=about, script=template.replace(".html", ".js"))

        app.add_api_route(path, view, methods=["GET"], include_in_schema=False, name=f"page:{path}")

    for path, (template, title, about) in PAGES.items():
        page(path, template, title, about)
