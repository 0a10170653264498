"""The HTTP service: FastAPI over the services, with OpenAPI at ``/openapi.json``.

``create_app(settings)`` builds it; ``crimelens serve`` runs it with uvicorn. See
``docs/api.md``.
"""

from crimelens.api._app import create_app
from crimelens.api._errors import NotAuthenticatedError

__all__ = ["NotAuthenticatedError", "create_app"]
