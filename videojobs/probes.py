"""One health probe of a local server, for container healthchecks (`videojobs health SERVICE`).

Each answers (healthy, what was seen) and never raises: a healthcheck reports, it does not crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import urllib.error
import urllib.request

import grpc

from videojobs.health import check


def local_address(host: str, port: int) -> str:
    """Where a probe inside the server's own container reaches it: a listen-everywhere host means loopback."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"
    return f"{host}:{port}"


def grpc_serving(target: str, timeout: float) -> tuple[bool, str]:
    """The standard gRPC health check of the whole server (service "")."""

    async def probe() -> bool:
        async with grpc.aio.insecure_channel(target) as channel:
            return await check(channel, rpc_timeout=timeout)

    serving = asyncio.run(probe())
    return serving, "SERVING" if serving else "not SERVING (or not answering)"


def http_ok(url: str, timeout: float) -> tuple[bool, str]:
    """GET `url`; healthy on 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a local http:// URL
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        return False, f"no answer ({error})"
