"""The workspace page: everything in the workspace folder with its status."""

from __future__ import annotations

from mlxmed.studio.api import Args, endpoint
from mlxmed.studio.state import Studio
from starlette.routing import Route


def workspace(studio: Studio, args: Args) -> dict:
    entries = studio.workspace.scan()
    return {"root": str(studio.workspace.root), "entries": [e.to_dict() for e in entries]}


ROUTES = [Route("/api/workspace", endpoint(workspace))]
