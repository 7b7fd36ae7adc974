"""A static file host on loopback with strong ETags, like a raw-file host (If-None-Match -> 304).

Deliberately small: the bodies and their ETags are computed once, up front, so the server's own
cost per request is a dictionary lookup and a socket write. It counts responses by status, which
lets the harness check that a no-change re-run really was answered with 304s.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections import Counter
from contextlib import suppress
from typing import Any


class FileHost:
    """Serve ``{path: body}`` on 127.0.0.1 from a background thread."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = {
            path: (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            for path, body in files.items()
        }
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without it, a reply written as headers then body waits for the client's delayed
            # ACK (~40 ms on Linux): a stall of the test host, not of the code under test.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = host.files.get(self.path)
                if found is None:
                    self._reply(404, b"404: Not Found", None)
                elif self.headers.get("If-None-Match") == found[1]:
                    self._reply(304, b"", found[1])
                else:
                    self._reply(200, found[0], found[1])

            def _reply(self, status: int, body: bytes, etag: str | None) -> None:
                with host._lock:
                    host.statuses[status] += 1
                self.send_response(status)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                if etag is not None:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    with suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # shutdown() returns at the serve loop's next poll: 10 ms, not the library's 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def count(self, status: int) -> int:
        with self._lock:
            return self.statuses[status]

    def __enter__(self) -> FileHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
