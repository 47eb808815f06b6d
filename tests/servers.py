"""Servers the tests start on 127.0.0.1 and stop: an HTTP server (static files and/or routes, Range requests, Basic
auth, injected faults) standing in for NBIA, PhysioNet and release hosts, and moto's S3 server."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


class Handler(BaseHTTPRequestHandler):
    """GET/HEAD of `server.root` files or `server.routes[path](query) -> bytes`, with these switches on the server:
    `users` (Basic auth; `forbidden` users get 403), `faults[fragment]` (statuses answered first, one per request),
    `cuts[fragment]` (stop the body after N bytes, once per entry), `corrupt[fragment]` (flip bytes, N times).
    Every body sent is logged in `served` as (path, range start, bytes sent)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _take(self, table: dict, target: str):
        with self.server.lock:
            for fragment, values in table.items():
                if fragment in target and values:
                    return values.pop(0)
        return None

    def _body(self, path: str, query: dict) -> bytes | None:
        if path in self.server.routes:
            return self.server.routes[path](query)
        if self.server.root is not None:
            file = Path(self.server.root) / unquote(path).lstrip("/")
            if file.is_file():
                return file.read_bytes()
        return None

    def _authorized(self) -> bool:
        if self.server.users is None:
            return True
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.server.users.get(user) == password:
                if user in self.server.forbidden:
                    self._status(403)
                    return False
                return True
        self._status(401, {"WWW-Authenticate": 'Basic realm="test"'})
        return False

    def _status(self, code: int, headers: dict | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        url = urlparse(self.path)
        target = unquote(self.path)
        if not self._authorized():
            return
        fault = self._take(self.server.faults, target)
        if fault is not None:
            self._status(fault, {"Retry-After": "0"} if fault == 429 else None)
            return
        data = self._body(url.path, parse_qs(url.query))
        if data is None:
            self._status(404)
            return
        if not head and self._take(self.server.corrupt, target):
            data = data[: len(data) // 2] + bytes(b ^ 0xFF for b in data[len(data) // 2 :])
        start, status = 0, 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes=") and self.server.ranges_ok:
            start, status = int(header[6:].split("-")[0]), 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        cut = self._take(self.server.cuts, target)
        if cut is not None:
            body = body[:cut]
            self.close_connection = True
        self.wfile.write(body)
        with self.server.lock:
            self.server.served.append((target, start, len(body)))


@contextlib.contextmanager
def http_server(
    root: Path | None = None,
    routes: dict[str, Callable[[dict], bytes]] | None = None,
    users: dict[str, str] | None = None,
):
    """Yield (server, base URL); set server.faults/cuts/corrupt/forbidden to inject trouble."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.root, server.routes, server.users, server.forbidden = root, routes or {}, users, set()
    server.faults, server.cuts, server.corrupt, server.served = {}, {}, {}, []
    server.ranges_ok, server.lock = True, threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sent(server, fragment: str) -> int:
    """Bytes the server sent for requests whose target contains `fragment`."""
    return sum(n for target, _, n in server.served if fragment in target)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_server():
    """moto's S3 on 127.0.0.1 with fake credentials in the environment (restored afterwards)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }  # never ask 169.254.169.254 for credentials
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def zip_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A deterministic zip of `members` (name → bytes), plus symbolic-link entries (name → link target)."""
    import io
    import stat
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


class FakeNBIA:
    """The NBIA endpoints a download uses (getSeries, getImage), serving one zip per series folder of a mirror
    laid out like TCIA's (…/<series folder>/<files>). `zips` may be replaced per series to serve other archives."""

    def __init__(self, mirror: Path, collection: str):
        from pydicom import dcmread

        self.collection, self.rows, self.zips = collection, [], {}
        folders = sorted({p.parent for p in (mirror / collection).rglob("*.dcm")})
        for folder in folders:
            files = sorted(folder.glob("*.dcm"))
            ds = dcmread(files[0], stop_before_pixels=True)
            uid = str(ds.SeriesInstanceUID)
            self.zips[uid] = zip_bytes({f.name: f.read_bytes() for f in files})
            self.rows.append(
                {
                    "SeriesInstanceUID": uid,
                    "StudyInstanceUID": str(ds.StudyInstanceUID),
                    "PatientID": str(ds.PatientID),
                    "Modality": str(ds.Modality),
                    "Collection": collection,
                    "SeriesDescription": str(ds.get("SeriesDescription", "")),
                    "ImageCount": len(files),
                    "FileSize": sum(f.stat().st_size for f in files),
                }
            )

    def routes(self, base: str = "/nbia-api/services/v4") -> dict[str, Callable[[dict], bytes]]:
        import json

        def series(query: dict) -> bytes:
            return json.dumps([r for r in self.rows if r["Collection"] == query.get("Collection", [""])[0]]).encode()

        return {f"{base}/getSeries": series, f"{base}/getImage": lambda q: self.zips[q["SeriesInstanceUID"][0]]}
