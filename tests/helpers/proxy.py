"""A real HTTP forward proxy on loopback: ``CONNECT`` tunnels for https, absolute URIs for http.

``hosts`` maps names that only this proxy can resolve to loopback addresses, so a source served
under such a name is reachable through the proxy and no other way. ``carried`` lists what the
proxy carried (``"CONNECT host:port"`` or ``"GET http://..."``), to show a request went through it.
"""

from __future__ import annotations

import http.client
import http.server
import select
import socket
import threading
import urllib.parse
from contextlib import suppress
from typing import Any

from tests.helpers.servers import LoopbackHTTPServer, serve_in_background

# Headers that belong to one hop (RFC 9110 section 7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length"}
)  # fmt: skip


class ForwardProxy:
    """Forward proxy on 127.0.0.1; ``url`` is what HTTP_PROXY / HTTPS_PROXY should say."""

    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.carried: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                host, _, port = self.path.rpartition(":")
                proxy.record(f"CONNECT {self.path}")
                try:
                    upstream = socket.create_connection((proxy.resolve(host), int(port)), 5)
                except (OSError, ValueError):
                    self.send_error(502, "cannot reach upstream")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                with upstream:
                    tunnel(self.connection, upstream)

            def do_GET(self) -> None:
                target = urllib.parse.urlsplit(self.path)
                if target.scheme != "http" or not target.hostname:
                    self.send_error(400, "a forward proxy needs an absolute http URI")
                    return
                proxy.record(f"GET {self.path}")
                upstream = http.client.HTTPConnection(
                    proxy.resolve(target.hostname), target.port or 80, timeout=10
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = target.netloc
                path = target.path + (f"?{target.query}" if target.query else "")
                try:
                    upstream.request("GET", path or "/", headers=headers)
                    reply = upstream.getresponse()
                    body = reply.read()
                except OSError:
                    self.send_error(502, "cannot reach upstream")
                    return
                finally:
                    upstream.close()
                self.send_response(reply.status, reply.reason)
                for key, value in reply.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(OSError):
                    self.wfile.write(body)

        self.httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = serve_in_background(self.httpd)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def resolve(self, host: str) -> str:
        return self.hosts.get(host, host)

    def record(self, what: str) -> None:
        with self.lock:
            self.carried.append(what)

    def start(self) -> ForwardProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def tunnel(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes (or nothing moves for 10 s)."""
    ends = [client, upstream]
    while True:
        readable, _, _ = select.select(ends, [], [], 10)
        if not readable:
            return
        for end in readable:
            try:
                data = end.recv(65536)
            except OSError:
                return
            if not data:
                return
            other = upstream if end is client else client
            try:
                other.sendall(data)
            except OSError:
                return
