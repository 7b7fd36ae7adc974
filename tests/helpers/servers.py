"""Real servers on loopback for tests: a source host (with ETags), a webhook sink, SMTP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

# ``shutdown()`` returns only once the serve loop polls again; the library default of 0.5 s
# made every test that starts a server wait up to that long in its teardown.
POLL_INTERVAL = 0.01


def serve_in_background(server: socketserver.BaseServer) -> threading.Thread:
    """A daemon thread running ``server`` that stops within POLL_INTERVAL of ``shutdown()``."""
    return threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
    )


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server whose handler threads never block shutdown, and that does not
    print a traceback when a client hangs up on it (clients under test often do, on purpose)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Response:
    """One scripted response. ``body=None`` with status 200 is not allowed; use b""."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    # A slow-drip server: send the whole response ("headers") or only the body ("body") one
    # byte every ``drip_interval`` seconds, which never trips a client's read timeout.
    drip: Literal["headers", "body"] | None = None
    drip_interval: float = 0.5
    # Promise the whole body but send only this many bytes of it, then close the connection
    # (``reset=True``: abort it with a TCP reset instead of a clean close).
    cut_after: int | None = None
    reset: bool = False


class SourceServer:
    """Serves files by path like a raw-file host: ETag, If-None-Match -> 304, scripted failures.

    ``serve(path, body)`` sets the current content; ``script(path, [Response, ...])`` makes the
    next requests to that path answer from the script first (e.g. a 500 then the real file).
    """

    def __init__(self, tls: ssl.SSLContext | None = None, host: str | None = None) -> None:
        """``tls`` serves https with that server context; ``host`` is the name put in URLs
        (default: the loopback address), e.g. a name that only a test proxy resolves."""
        self.host = host
        self.scheme = "https" if tls is not None else "http"
        self.files: dict[str, tuple[bytes, str]] = {}
        self.scripts: dict[str, list[Response]] = {}
        self.requests: list[dict[str, Any]] = []
        self.etags = True
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without it, a reply written as headers then body waits for the client's delayed
            # ACK (~40 ms on Linux): a stall of the test host, not of the code under test.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers)})
                    script = server.scripts.get(self.path)
                    scripted = script.pop(0) if script else None
                    current = server.files.get(self.path)
                if scripted is not None:
                    if scripted.delay:
                        time.sleep(scripted.delay)
                    if scripted.drip is not None:
                        self._drip(scripted)
                        return
                    if scripted.cut_after is not None:
                        self._cut(scripted)
                        return
                    self._send(scripted.status, scripted.body, scripted.headers)
                    return
                if current is None:
                    self._send(404, b"404: Not Found", {"Content-Type": "text/plain"})
                    return
                body, content_type = current
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                headers = {"Content-Type": content_type}
                if server.etags:
                    headers["ETag"] = etag
                    if self.headers.get("If-None-Match") == etag:
                        self._send(304, b"", headers)
                        return
                self._send(200, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304 and body:
                    with suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

            def _cut(self, scripted: Response) -> None:
                self.send_response(scripted.status)
                for key, value in scripted.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(scripted.body)))
                self.end_headers()
                self.wfile.write(scripted.body[: scripted.cut_after])
                self.wfile.flush()
                self.close_connection = True
                if scripted.reset:
                    # Linger on, timeout 0: close() sends RST instead of FIN.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()

            def _drip(self, scripted: Response) -> None:
                head = [f"HTTP/1.1 {scripted.status} OK", f"Content-Length: {len(scripted.body)}"]
                head += [f"{key}: {value}" for key, value in scripted.headers.items()]
                header_bytes = ("\r\n".join(head) + "\r\n\r\n").encode()
                slow = header_bytes + scripted.body if scripted.drip == "headers" else scripted.body
                self.close_connection = True
                with suppress(OSError):
                    if scripted.drip == "body":
                        self.wfile.write(header_bytes)
                    for i in range(len(slow)):
                        self.wfile.write(slow[i : i + 1])
                        self.wfile.flush()
                        time.sleep(scripted.drip_interval)

        self.httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = serve_in_background(self.httpd)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base(self) -> str:
        host = self.host or self.httpd.server_address[0]
        return f"{self.scheme}://{host!s}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> str:
        with self.lock:
            self.files[path] = (body, content_type)
        return self.url(path)

    def script(self, path: str, responses: list[Response]) -> None:
        with self.lock:
            self.scripts[path] = list(responses)

    def hits(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def start(self) -> SourceServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class WebhookSink:
    """Collects JSON POSTs (Apprise's json:// target). ``fail = True`` answers 500;
    ``on_receive`` is called with each message before the answer is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False
        self.on_receive: Callable[[dict[str, Any]], None] | None = None
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if sink.fail:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                sink.received.append(json.loads(data or b"{}"))
                if sink.on_receive is not None:
                    sink.on_receive(sink.received[-1])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = serve_in_background(self.httpd)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"json://{host!s}:{port}/hook"

    def start(self) -> WebhookSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SMTP_USER, SMTP_PASSWORD = "etl", "secret-pass"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    subject: str
    body: str


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Mail] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                import email
                import email.policy

                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                part = parsed.get_body(preferencelist=("plain", "html"))
                body = part.get_content() if part is not None else ""
                sink.messages.append(
                    Mail(
                        sender=envelope.mail_from,
                        recipients=list(envelope.rcpt_tos),
                        subject=str(parsed["Subject"]),
                        body=body.replace("\r\n", "\n"),
                    )
                )
                return "250 Message accepted for delivery"

        # aiosmtpd checks its own start-up by connecting to the port, so it needs a real one.
        self.logins: list[str] = []

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> Any:
            from aiosmtpd.smtp import AuthResult, LoginPassword

            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login,
                auth_data.password,
            ) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
            if ok:
                sink.logins.append(SMTP_USER)
            return AuthResult(success=ok)

        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=authenticate,
            auth_require_tls=False,  # loopback only; production servers use mode=ssl/starttls
        )

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def mailto(self, to: str = "ops@example.com") -> str:
        return (
            f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"
            f"?from=covid-etl@example.com&to={to}&mode=insecure"
        )

    def stop(self) -> None:
        self.controller.stop()


@functools.cache  # about a second of compression; several test modules use the same bomb
def gzip_bomb(inflated_mib: int = 256) -> bytes:
    """CSV-looking zeros that inflate to ``inflated_mib`` MiB from well under 1 MB of gzip."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"0" * (1024 * 1024)
    parts = [packer.compress(b"date,cases,deaths\n")]
    parts += [packer.compress(block) for _ in range(inflated_mib)]
    parts.append(packer.flush())
    return b"".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
