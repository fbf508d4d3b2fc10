"""Who may talk to the server, and what the browser may do with its pages.

Access: the server prints one URL with a random token. Opening it sets an HttpOnly,
SameSite=Strict cookie (holding another random secret, not the token) and redirects to the
same page without the token, so it stays out of the address bar and the history. Every
request without that cookie or the token gets 403, and so does a request whose Host is not
this server's loopback address (DNS rebinding) or whose Origin is another site.

Headers on every response: a strict Content-Security-Policy (only this origin's own files,
no inline script, no frames of this page elsewhere), no MIME sniffing, no Referer, and no
caching (note text must not land in the browser's disk cache).
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
          "connect-src 'self'; frame-ancestors 'none'")
# a report page in the sandboxed frame: no script, no requests, its own inline style only
REPORT_FRAME_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                       "frame-ancestors 'self'; sandbox")
HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
SAFE_METHODS = ("GET", "HEAD")
FORBIDDEN = ("403 forbidden: open the link that `mlxmed studio` printed (it carries the "
             "access token)\n")


class AccessGuard:
    """ASGI middleware: the token/cookie check, the host and origin checks, the headers."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token
        self.secret = secrets.token_urlsafe(32)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        port = scope["server"][1] if scope.get("server") else None
        host = headers.get("host", "")
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            await self._refuse(send, "403 forbidden: unknown host\n")
            return
        origin = headers.get("origin")
        if scope["method"] not in SAFE_METHODS and origin not in (None, f"http://{host}"):
            await self._refuse(send, "403 forbidden: request from another site\n")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query and hmac.compare_digest(query["token"], self.token):
            await self._let_in(scope, send, query)
            return
        if not self._has_cookie(headers.get("cookie", ""), port):
            await self._refuse(send, FORBIDDEN)
            return
        await self.app(scope, receive, _with_headers(send))

    def cookie_name(self, port: int | None) -> str:
        return f"mlxmed_studio_{port}"  # cookies ignore ports: one per server

    def _has_cookie(self, header: str, port: int | None) -> bool:
        cookie = SimpleCookie()
        try:
            cookie.load(header)
        except Exception:  # a malformed Cookie header is no cookie
            return False
        morsel = cookie.get(self.cookie_name(port))
        return morsel is not None and hmac.compare_digest(morsel.value, self.secret)

    async def _let_in(self, scope, send, query: dict[str, str]) -> None:
        """Set the cookie and send the browser to the same page without the token."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        location = scope["path"] + (f"?{rest}" if rest else "")
        port = scope["server"][1]
        cookie = (f"{self.cookie_name(port)}={self.secret}; HttpOnly; SameSite=Strict; "
                  "Path=/")
        await _with_headers(send)({"type": "http.response.start", "status": 303,
                                   "headers": [(b"location", location.encode("latin-1")),
                                               (b"set-cookie", cookie.encode("latin-1")),
                                               (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, send, message: str) -> None:
        body = message.encode("utf-8")
        await _with_headers(send)({"type": "http.response.start", "status": 403,
                                   "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                               (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _with_headers(send):
    """``send`` that adds the security headers to the response start (a response that sets
    its own Content-Security-Policy, the report frame, keeps it)."""
    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            present = {k.decode("latin-1").lower() for k, _ in message.get("headers", [])}
            extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending
