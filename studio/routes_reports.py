"""The reports page: evaluation reports (the self-contained ``report.html`` of `mlxmed
evaluate`, shown in a sandboxed frame) and learning curves (``curve.json``, drawn by the
page)."""

from __future__ import annotations

import json

from mlxmed.studio.api import Args, endpoint
from mlxmed.studio.security import REPORT_FRAME_POLICY
from mlxmed.studio.state import Studio
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from mlxmed.errors import MlxmedError


def curve(studio: Studio, args: Args) -> dict:
    path = studio.workspace.resolve(args.text("path"))
    path = path / "curve.json" if path.is_dir() else path
    if path.name != "curve.json" or not path.is_file():
        raise MlxmedError(f"{args.text('path')}: no curve.json there; run a learning curve")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise MlxmedError(f"{path}: not valid JSON ({exc})") from exc
    return {"rows": data.get("rows", []), "points": data.get("points", []),
            "task": data.get("task"), "sizes": data.get("sizes")}


async def report_frame(request: Request) -> Response:
    """A report page, for a sandboxed frame: no script may run in it, nothing is fetched (its
    plots are inline images), only its own inline style applies."""
    studio: Studio = request.app.state.studio
    path = studio.workspace.resolve(request.query_params.get("path", ""))
    path = path / "report.html" if path.is_dir() else path
    if path.name != "report.html" or not path.is_file():
        raise MlxmedError(f"{request.query_params.get('path')}: no report.html there")
    return FileResponse(path, media_type="text/html",
                        headers={"Content-Security-Policy": REPORT_FRAME_POLICY})


ROUTES = [Route("/api/curve", endpoint(curve)), Route("/report", report_frame)]
