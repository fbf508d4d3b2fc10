"""Serving the studio: a socket bound to 127.0.0.1 only (never another interface), a fresh
token for each start, the URL printed and, where there is a desktop, opened in the browser."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from mlxmed.studio.app import create_app
from mlxmed.studio.state import Studio

from mlxmed.workspace import Workspace

LOOPBACK = "127.0.0.1"


def loopback_socket(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (``port`` 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    return sock


def has_desktop() -> bool:
    """Whether a graphical browser can open (not over ssh without a display, where Python
    would start a text browser in the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(workspace: str | Path, port: int = 0, open_browser: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Run the studio for ``workspace`` until Ctrl-C (running jobs are stopped safely)."""
    import uvicorn

    studio = Studio(Workspace(workspace))
    token = secrets.token_urlsafe(24)
    sock = loopback_socket(port)
    url = f"http://{LOOPBACK}:{sock.getsockname()[1]}/?token={token}"
    config = uvicorn.Config(create_app(studio, token), log_level="warning", access_log=False,
                            lifespan="on", http="h11", ws="none", proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=3)
    announce(url)
    if open_browser and has_desktop():
        threading.Timer(0.5, webbrowser.open, [url], {"new": 2}).start()
    uvicorn.Server(config).run(sockets=[sock])
