"""The Starlette application: the page, its static files, the API routes of each page, the
access guard around all of them, and training jobs stopped safely when the server stops."""

from __future__ import annotations

import contextlib
import mimetypes
from pathlib import Path

from mlxmed.studio import (
    routes_label,
    routes_reports,
    routes_review,
    routes_train,
    routes_workspace,
)
from mlxmed.studio.api import error_response
from mlxmed.studio.security import AccessGuard
from mlxmed.studio.state import Studio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mlxmed.errors import MlxmedError
from mlxmed.jobs import stop_all

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 8 << 20

# module scripts need a JavaScript type, whatever the system's MIME table says
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("image/svg+xml", ".svg")


async def index(request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def create_app(studio: Studio, token: str) -> Starlette:
    """The app for ``studio``; only a browser that brings ``token`` once gets in."""
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        stop_all([job for job in studio.jobs.values() if job.running])

    routes = [Route("/", index), Mount("/static", StaticFiles(directory=STATIC), name="static"),
              *routes_workspace.ROUTES, *routes_label.ROUTES, *routes_train.ROUTES,
              *routes_review.ROUTES, *routes_reports.ROUTES]
    app = Starlette(routes=routes, middleware=[Middleware(AccessGuard, token=token)],
                    exception_handlers={MlxmedError: error_response, OSError: error_response,
                                        Exception: error_response},
                    lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.studio = studio
    return app
