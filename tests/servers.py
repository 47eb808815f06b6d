"""Servers the tests start on 127.0.0.1 and stop: a static HTTP server with Range support (and a switch that cuts a
transfer short), and moto's S3 server."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves `server.root`; honours `Range: bytes=N-`; counts bytes sent; can stop the body of the file named
    `cut_path` after `cut_after` bytes (once)."""

    def translate_path(self, path: str) -> str:
        return str(Path(self.server.root) / path.split("?", 1)[0].lstrip("/"))

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, status = 0, 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            start, status = int(header[6:].split("-")[0]), 206
        body = data[start:]
        self.server.ranges.append(start)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.server.cut_after is not None and self.path.endswith(self.server.cut_path):
            self.wfile.write(body[:self.server.cut_after])
            self.server.cut_after = None
            self.close_connection = True
            return
        self.wfile.write(body)
        self.server.bytes_sent += len(body)


@contextlib.contextmanager
def http_server(root: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.root, server.cut_after, server.cut_path, server.bytes_sent, server.ranges = root, None, "", 0, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
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
