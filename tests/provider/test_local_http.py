"""The loopback HTTP server behind the fakes, the sim and the tests' HTTP sources: what it sends."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from provider_service.local_http import LocalHttpServer, Request, Response
from tests.support.tls import server_tls

PIECES = [b"a" * 1000, b"b" * 1000, b"c" * 1000]


def raw_get(server: LocalHttpServer, path: str) -> bytes:
    """Everything the server sends for one GET, until it closes the connection."""
    with socket.create_connection((server.host, server.port), timeout=5) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    def answer(request: Request) -> Response:
        if request.path == "/streamed":
            return Response(200, iter(PIECES))
        if request.path == "/cut":
            return Response(200, iter(PIECES), {"Content-Length": "3000"}, drop_after=1500)
        if request.path == "/cut-whole":
            return Response(200, b"x" * 3000, drop_after=10)
        return Response(200, b"hello", {"X-Target": request.target})

    running = LocalHttpServer(answer).start()
    yield running
    running.stop()


def test_a_body_of_pieces_is_streamed_chunked_and_arrives_whole(server: LocalHttpServer) -> None:
    answer = httpx.get(f"{server.url}/streamed")
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.content == b"".join(PIECES)


def test_drop_after_closes_the_connection_partway_through_the_body(server: LocalHttpServer) -> None:
    head, _, body = raw_get(server, "/cut").partition(b"\r\n\r\n")
    assert b"Content-Length: 3000" in head
    assert body == b"a" * 1000 + b"b" * 500  # then the connection closed
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/cut")


def test_drop_after_cuts_a_single_piece_body_too(server: LocalHttpServer) -> None:
    _, _, body = raw_get(server, "/cut-whole").partition(b"\r\n\r\n")
    assert body == b"x" * 10


def test_handlers_see_the_request_target_with_its_query(server: LocalHttpServer) -> None:
    answer = httpx.get(f"{server.url}/plain?alt=media&prefix=")
    assert answer.headers["x-target"] == "/plain?alt=media&prefix="
    assert answer.headers["content-length"] == "5"


def test_with_tls_it_serves_https_that_only_a_client_trusting_the_authority_accepts(
    certificate_authority: trustme.CA, ca_file: Path
) -> None:
    tls = server_tls(certificate_authority, "videos.provider.test")
    server = LocalHttpServer(lambda request: Response(200, b"secret"), tls=tls).start()
    try:
        assert server.url.startswith("https://")
        trusting = ssl.create_default_context(cafile=str(ca_file))
        assert httpx.get(f"{server.url}/v", verify=trusting).content == b"secret"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/v", verify=ssl.create_default_context())
    finally:
        server.stop()
