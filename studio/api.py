"""The one way a page calls the library: arguments from the query (GET) or a JSON body (POST),
the library call in a worker thread (it may read files or run a model), the result as JSON.
Errors become one line in the page (see :func:`error_response`), never a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mlxmed.errors import MlxmedError, error_line
from mlxmed.jobs.worker import finite

log = logging.getLogger("mlxmed.studio")


class Args:
    """The arguments of one call, with one-line errors for missing or malformed ones."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MlxmedError(f"'{name}' is missing; choose it first")
        return str(value)

    def optional(self, name: str) -> str | None:
        value = self.data.get(name)
        return None if value in (None, "") else str(value)

    def integer(self, name: str, default: int | None = None) -> int:
        value = self.data.get(name, default)
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise MlxmedError(f"'{name}' must be a whole number, not {value!r}") from exc

    def number(self, name: str) -> float | None:
        value = self.data.get(name)
        if value in (None, ""):
            return None
        try:
            return float(str(value).replace(",", "."))
        except ValueError as exc:
            raise MlxmedError(f"'{name}' must be a number, not {value!r}") from exc

    def flag(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value in (None, ""):
            return None
        return value is True or str(value).lower() in ("1", "true", "yes")

    def raw(self, name: str) -> Any:
        return self.data.get(name)


Handler = Callable[[Any, Args], Any]


def endpoint(handler: Handler) -> Callable[[Request], Any]:
    """A Starlette endpoint around ``handler(studio, args)``."""
    async def call(request: Request) -> Response:
        data: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError as exc:
                raise MlxmedError("the request is not valid JSON") from exc
            if not isinstance(body, dict):
                raise MlxmedError("the request must be a JSON object")
            data.update(body)
        data.update(request.path_params)
        result = await run_in_threadpool(handler, request.app.state.studio, Args(data))
        return json_response(result)

    call.__name__ = handler.__name__
    return call


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(finite(data), ensure_ascii=False, default=str)
    return Response(body, status, media_type="application/json")


async def error_response(request: Request, exc: Exception) -> Response:
    """One line for the page: the library's own message, or what kind of failure it was."""
    if not isinstance(exc, MlxmedError | OSError):
        log.error("unexpected error in %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": error_line(exc)}, 500)
    return JSONResponse({"error": error_line(exc)}, 400)
