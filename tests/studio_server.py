"""The real `mlxmed studio` command in a child process, and a small HTTP client that logs in
with its token the way a browser does (token -> cookie)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)")


class StudioServer:
    """``mlxmed studio WORKSPACE --no-browser``, started and stopped by the test."""

    def __init__(self, workspace: Path, log: Path) -> None:
        self.workspace, self.log_path = workspace, log
        self.process: subprocess.Popen | None = None
        self.url = self.token = ""
        self.port = 0

    def start(self, timeout: float = 60.0) -> StudioServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
        self.log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlxmed", "studio", str(self.workspace), "--no-browser"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"studio exited: see {self.log_path}")
            found = URL.search(line)
            if found:
                self.url, self.port, self.token = found.group(0), int(found.group(1)), \
                    found.group(2)
                break
        self._wait_until_serving(deadline)
        return self

    def _wait_until_serving(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                status, _, _ = self.client().request("GET", "/static/icon.svg")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("studio did not answer")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Client:
        return Client(self.port)

    def logged_in(self) -> Client:
        client = self.client()
        client.login(self.token)
        return client

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


class Client:
    """HTTP to the studio, with the session cookie once logged in."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.cookie: str | None = None

    def request(self, method: str, path: str, body=None, headers=None
                ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookie:
            sent["Cookie"] = self.cookie
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        result = (response.status, {k.lower(): v for k, v in response.getheaders()},
                  response.read())
        connection.close()
        return result

    def login(self, token: str) -> dict[str, str]:
        status, headers, _ = self.request("GET", f"/?token={token}")
        assert status == 303, status
        self.cookie = headers["set-cookie"].split(";")[0]
        return headers

    def api(self, method: str, path: str, body=None) -> tuple[int, dict]:
        status, _, data = self.request(method, path, body)
        return status, json.loads(data)

    def get(self, path: str) -> dict:
        status, data = self.api("GET", path)
        assert status == 200, data
        return data

    def post(self, path: str, body: dict) -> dict:
        status, data = self.api("POST", path, body)
        assert status == 200, data
        return data


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
