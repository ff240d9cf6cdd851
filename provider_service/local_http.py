"""A small threaded HTTP(S) server for the sim provider, the fake providers and the tests' HTTP sources.

Plain `http.server` on purpose: the fakes need to do what a framework hides (drop a connection after reading
a request or partway through a body, hang past a client's timeout), and the sim is a development stand-in, not
a production service. Start on port 0 in a background thread; `.url` says where it listens.
"""

from __future__ import annotations

import io
import json
import ssl
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from videojobs.logs import get_logger

log = get_logger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    target: str = ""  # as sent: the path and the query string

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """An answer. A body of several pieces is streamed (chunked unless the headers give Content-Length), each
    piece sent as it is made; `drop_after` closes the connection once that many body bytes are sent (a server
    dying mid-body)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})}
        )


class Drop:
    """Close the connection without answering (after the handler has done its work)."""


DROP = Drop()
Handler = Callable[[Request], Response | Drop]


class LocalHttpServer:
    def __init__(
        self, handle: Handler, *, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self._handle = handle
        self.stopping = threading.Event()  # handlers that hang wait on this, so stop() is never held up
        self.host = host
        self.scheme = "https" if tls else "http"
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        if tls is not None:
            # The handshake happens on the first read, in the connection's own thread, not in accept().
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> LocalHttpServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread (a standalone process) until interrupted."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.stopping.set()
            self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        handle = self._handle

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per answer, no Nagle: otherwise every call waits out a delayed ACK (~40 ms).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    target=self.path,
                )
                try:
                    result = handle(request)
                except Exception:  # a bug in a handler must show up as a 500, not a hung client
                    log.exception("local http handler failed", path=parts.path)
                    result = Response.json({"error": "internal error in local server"}, 500)
                if isinstance(result, Drop):
                    self.close_connection = True
                    return
                try:
                    self._answer(result)
                except ConnectionError:  # the client left mid-answer (e.g. closed a stream it followed)
                    self.close_connection = True
                    self.wfile = io.BytesIO()  # what is still buffered for it can go nowhere
                finally:
                    if isinstance(result.body, Generator):
                        result.body.close()  # its cleanup runs now, not when it is collected

            def _answer(self, result: Response) -> None:
                self.send_response(result.status)
                for name, value in result.headers.items():
                    self.send_header(name, value)
                pieces: Iterable[bytes]
                length: int | None
                if isinstance(result.body, bytes):
                    pieces, length = [result.body], len(result.body)
                else:
                    pieces, length = result.body, None
                declared = any(name.lower() == "content-length" for name in result.headers)
                chunked = length is None and not declared
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif not declared:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command == "HEAD":
                    return
                sent = 0
                for whole in pieces:
                    piece = whole
                    if result.drop_after is not None:
                        piece = whole[: max(0, result.drop_after - sent)]
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                        # Each piece leaves at once: a streamed body (server-sent events) is read as it comes.
                        self.wfile.flush()
                        sent += len(piece)
                    if len(piece) < len(whole):
                        self.close_connection = True
                        return
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request logs would drown test output; the servers count what matters

        return _Handler
