"""The studio server as users start it (`mlxmed studio`): nothing without the token, loopback
only, strict headers, the CLI's one-line errors, and no saved label lost to a SIGKILL."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import socket
import struct
import subprocess
import sys

import pytest
from mlxmed.studio.security import POLICY
from studio_server import StudioServer

from mlxmed.errors import MlxmedError
from mlxmed.tasks import load_task

SIOCGIFADDR = 0x8915


def test_nothing_is_served_without_the_token(server):
    anonymous = server.client()
    for method, path in (("GET", "/"), ("GET", "/static/js/app.js"), ("GET", "/api/workspace"),
                         ("POST", "/api/label/open"), ("GET", "/report?path=reports/first"),
                         ("GET", "/?token=wrong"), ("GET", "/api/jobs/x/events")):
        status, headers, body = anonymous.request(method, path, {} if method == "POST" else None)
        assert status == 403, (path, status)
        assert b"token" in body and headers["content-security-policy"] == POLICY
    anonymous.cookie = f"mlxmed_studio_{server.port}=guessed"
    assert anonymous.request("GET", "/api/workspace")[0] == 403


def test_the_token_sets_a_strict_cookie_and_leaves_the_address_bar(server):
    client = server.client()
    headers = client.login(server.token)
    assert headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and server.token not in cookie
    status, headers, body = client.request("GET", "/")
    assert status == 200 and b"mlxmed studio" in body
    assert headers["content-security-policy"] == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    status, headers, _ = client.request("GET", "/static/js/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    deep = server.client()
    status, headers, _ = deep.request("GET", f"/static/icon.svg?token={server.token}&x=1")
    assert status == 303 and headers["location"] == "/static/icon.svg?x=1"


def test_other_hosts_and_other_sites_are_refused(server):
    client = server.logged_in()
    assert client.request("GET", "/api/workspace", headers={"Host": "evil.example"})[0] == 403
    forged = client.request("POST", "/api/label/undo", {"session": "x"},
                            headers={"Origin": "http://evil.example"})
    assert forged[0] == 403
    ours = client.request("POST", "/api/label/undo", {"session": "x"},
                          headers={"Origin": server.origin})
    assert ours[0] == 400  # let in, and told the session does not exist


def test_the_report_frame_may_run_no_script(server):
    status, headers, body = server.logged_in().request("GET", "/report?path=reports/first")
    assert status == 200 and b"mlxmed evaluation" in body
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script" not in policy


def non_loopback_addresses() -> list[str]:
    """The IPv4 address of every interface but loopback."""
    found = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _, name in socket.if_nameindex():
        try:
            packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR,
                                 struct.pack("256s", name.encode()[:15]))
        except OSError:
            continue  # no IPv4 address on this interface
        address = socket.inet_ntoa(packed[20:24])
        if not address.startswith("127."):
            found.append(address)
    probe.close()
    return found


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    if len(address) == 8:
                        found.append(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
                    else:
                        found.append(f"ipv6:{address}")
    return found


def test_the_server_listens_on_loopback_only(server):
    assert listening_addresses(server.port) == ["127.0.0.1"]
    others = non_loopback_addresses()
    assert others, "no non-loopback address on this machine to check against"
    for address in others:
        with pytest.raises(OSError):  # refused: nothing listens there
            socket.create_connection((address, server.port), timeout=3).close()


def test_bad_input_gets_the_same_one_line_errors_as_the_cli(server, workspace, tmp_path):
    client = server.logged_in()
    status, answer = client.api("POST", "/api/label/open", {"task": "broken.yaml",
                                                             "notes": "notes.csv"})
    with pytest.raises(MlxmedError) as expected:
        load_task(workspace / "broken.yaml")
    assert status == 400 and answer["error"] == str(expected.value)
    cli = subprocess.run([sys.executable, "-m", "mlxmed", "data", str(workspace / "broken.yaml"),
                          str(workspace / "labelled.csv"), "--out", str(tmp_path / "d")],
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"})
    assert answer["error"] in " ".join(cli.stderr.split())
    status, answer = client.api("POST", "/api/label/open", {"task": "task.yaml",
                                                             "notes": "bad-notes.csv"})
    assert status == 400 and answer["error"] == (
        "bad-notes.csv row 3, field 'text': empty note text; fill it in or remove the row")
    for body, message in (({"task": "../../etc/passwd", "notes": "x"}, "outside the workspace"),
                          ({"task": "task.yaml"}, "'notes' is missing")):
        status, answer = client.api("POST", "/api/label/open", body)
        assert status == 400 and message in answer["error"] and "Traceback" not in answer["error"]
    status, headers, raw = client.request("POST", "/api/label/answer", None,
                                          {"Content-Type": "application/json"})
    assert status == 400 and b"not valid JSON" in raw


def rows_of(path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row["label"] for row in csv.DictReader(handle)}


def test_a_killed_server_loses_no_saved_label(workspace, tmp_path):
    notes_digest = hashlib.sha256((workspace / "notes.csv").read_bytes()).hexdigest()
    labels = workspace / "labels" / "chest_pain--notes.csv"
    labels.unlink(missing_ok=True)
    first = StudioServer(workspace, tmp_path / "first.log").start()
    client = first.logged_in()
    session = client.post("/api/label/open", {"task": "task.yaml", "notes": "notes.csv"})
    given, view = {}, session
    for index in range(7):
        note_id = view["note"]["id"]
        given[note_id] = "PAIN" if index % 3 else "NO PAIN"
        step = client.post("/api/label/answer", {"session": session["session"], "id": note_id,
                                                 "value": given[note_id]})
        view = client.get(f"/api/label/note?session={session['session']}&position="
                          f"{step['next']}")
    first.kill()  # SIGKILL right after the last answer was acknowledged
    assert rows_of(labels) == given
    second = StudioServer(workspace, tmp_path / "second.log").start()
    try:
        again = second.logged_in().post("/api/label/open", {"task": "task.yaml",
                                                            "notes": "notes.csv"})
        assert again["labelled"] == 7 and again["note"]["id"] not in given
    finally:
        second.stop()
    assert rows_of(labels) == given
    assert hashlib.sha256((workspace / "notes.csv").read_bytes()).hexdigest() == notes_digest


def test_the_command_explains_itself(tmp_path):
    shown = subprocess.run([sys.executable, "-m", "mlxmed", "studio", "--help"],
                           capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    assert shown.returncode == 0 and "127.0.0.1" in shown.stdout and "--no-browser" in shown.stdout
    listed = subprocess.run([sys.executable, "-m", "mlxmed", "--help"], capture_output=True,
                            text=True)
    assert "mlxmed studio" in listed.stdout
    missing = subprocess.run([sys.executable, "-m", "mlxmed", "studio", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
