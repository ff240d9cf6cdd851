"""Fetching a URL someone else gave us (a provider's output, a user's image) without becoming a proxy into
our own network (SSRF). The one implementation every service uses.

Every hop of a fetch is checked before any connection is made:
- the scheme is https (plain http only with the development setting `fetch_allow_local`);
- no credentials in the URL;
- the host is resolved once, and every address it resolves to must be public: link-local (the cloud
  metadata server), loopback, private, shared, multicast and reserved ranges are refused (loopback and
  private ones are allowed only with `fetch_allow_local`);
- the connection goes to the address that was checked (the URL is rewritten to the IP, with the Host
  header and TLS SNI/certificate check still on the name), so a second DNS answer cannot swap it;
- redirects are followed by hand, at most `max_redirects`, each target checked again; headers the caller
  supplied are dropped when a redirect leaves the original origin.
`SafeFetcher.post` (outbound webhooks) makes the same checks for one request that never follows a redirect and
reads at most a few bytes of the answer. With `loopback_only`, `allow_local` allows loopback alone: private
ranges stay refused and plain http is accepted only towards loopback addresses.
Refusals are INVALID_ARGUMENT on the caller's field (`SafeFetcher.field`, e.g. `source_uri`), reason
URL_NOT_ALLOWED; an unreachable source is UNAVAILABLE (SOURCE_UNAVAILABLE); its own refusals are
NOT_FOUND / FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from videojobs import errors
from videojobs.backoff import retry_after_seconds
from videojobs.settings import FetchSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

REFUSED_REASON = "URL_NOT_ALLOWED"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    allow_local: bool = False
    max_redirects: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    loopback_only: bool = False

    @property
    def allow_private(self) -> bool:
        return self.allow_local and not self.loopback_only


def refused(field: str, why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument([errors.FieldViolation(field, f"refused: {why}")], reason=REFUSED_REASON)


def too_large(size: int, limit: int) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"the source is {size} bytes, over the {limit}-byte limit", reason="SOURCE_TOO_LARGE"
    )


def address_problem(ip: IPAddress, *, allow_local: bool, allow_private: bool | None = None) -> str | None:
    """Why connecting to `ip` is refused, or None. `allow_private` defaults to `allow_local`."""
    private_ok = allow_local if allow_private is None else allow_private
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_problem(embedded, allow_local=allow_local, allow_private=private_ok)
    if ip.is_link_local:
        return f"{ip} is a link-local address (e.g. the cloud metadata server)"
    if ip.is_loopback:  # before "reserved": ::1 sits in the reserved ::/8
        return None if allow_local else f"{ip} is a loopback address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a unicast address"
    if ip.is_private or not ip.is_global:
        return None if private_ok else f"{ip} is a private or non-public address"
    return None


def check_url(url: str | httpx.URL, *, allow_local: bool, field: str) -> httpx.URL:
    """Syntax-level checks (scheme, host, userinfo); INVALID_ARGUMENT on `field` when refused."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL as exc:
        raise errors.InvalidArgument.field(field, f"not a valid URL: {exc}") from exc
    if parsed.scheme == "http" and not allow_local:
        raise refused(field, "plain http is not allowed; use https")
    if parsed.scheme not in {"https", "http"}:
        raise refused(field, f"scheme {parsed.scheme or '(none)'!r} is not allowed; only https")
    if not parsed.host:
        raise refused(field, "the URL has no host")
    if parsed.userinfo:
        raise refused(field, "credentials in the URL are not accepted; pass them as headers instead")
    return parsed


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def create_client(policy: FetchPolicy, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client fetches go through; `trust_env=False` so no proxy from the environment undoes pinning."""
    return httpx.AsyncClient(
        verify=verify,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=8),
    )


class SafeFetcher:
    """GETs with the checks above. `field` names the caller's request field in refusals."""

    def __init__(
        self,
        policy: FetchPolicy,
        client: httpx.AsyncClient,
        resolver: Resolver = system_resolver,
        *,
        field: str,
    ) -> None:
        self.policy = policy
        self.client = client
        self.resolver = resolver
        self.field = field

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        return check_url(url, allow_local=self.policy.allow_local, field=self.field)

    async def address_for(self, url: httpx.URL) -> IPAddress:
        """The checked address to connect to for `url`; every address the name has must pass."""
        host = url.host
        literal = _literal_ip(host)
        if literal is not None:
            answers = [literal]
        else:
            try:
                async with asyncio.timeout(self.policy.connect_timeout):
                    found = await self.resolver(host, url.port or (443 if url.scheme == "https" else 80))
            except (OSError, TimeoutError) as exc:
                raise errors.Unavailable(
                    f"could not resolve the source host {host!r}",
                    reason="SOURCE_UNAVAILABLE",
                    retry_after=5.0,
                ) from exc
            answers = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        if not answers:
            raise refused(self.field, f"{host!r} has no address")
        name = "" if literal is not None else f"{host!r} resolves to "
        for ip in answers:
            problem = address_problem(
                ip, allow_local=self.policy.allow_local, allow_private=self.policy.allow_private
            )
            if problem:
                raise refused(self.field, f"{name}{problem}")
            if url.scheme == "http" and self.policy.loopback_only and not ip.is_loopback:
                raise refused(self.field, f"{name}{ip}: plain http is allowed only to a loopback address")
        return answers[0]

    async def _send(
        self, url: httpx.URL, headers: Mapping[str, str], method: str = "GET", content: bytes | None = None
    ) -> httpx.Response:
        ip = await self.address_for(url)
        host_header = url.host if url.port is None else f"{url.host}:{url.port}"
        pinned = url.copy_with(host=str(ip))
        request = self.client.build_request(
            method,
            pinned,
            content=content,
            headers={**headers, "Host": host_header, "Accept-Encoding": "identity"},
            extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        )
        try:
            return await self.client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise errors.FailedPrecondition(
                    f"the source's TLS certificate did not verify for {url.host!r}", reason="SOURCE_TLS_ERROR"
                ) from exc
            raise _unavailable(exc) from exc
        except httpx.TransportError as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def open(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[httpx.Response]:
        """A streaming 2xx response for `url`, after the checks above on every hop."""
        current = self.check_url(url)
        origin = (current.scheme, current.host, current.port)
        sent_headers = dict(headers)
        for _ in range(self.policy.max_redirects + 1):
            response = await self._send(current, sent_headers)
            if not response.is_redirect:
                break
            location = response.headers.get("location", "")
            await response.aclose()
            if not location:
                raise errors.FailedPrecondition(
                    "the source redirected without a location", reason="SOURCE_REJECTED"
                )
            current = self.check_url(current.join(location))
            if (current.scheme, current.host, current.port) != origin:
                sent_headers = {}
        else:
            raise errors.FailedPrecondition(
                f"the source redirected more than {self.policy.max_redirects} times",
                reason="TOO_MANY_REDIRECTS",
            )
        try:
            _check_status(response)
            yield response
        finally:
            await response.aclose()

    async def post(
        self, url: str, headers: Mapping[str, str], content: bytes, *, body_limit: int
    ) -> tuple[int, bytes]:
        """(status, at most `body_limit` bytes of the body) of one POST after the checks above. A redirect is
        an answer like any other (never followed); a body longer than the limit is cut, not refused."""
        response = await self._send(self.check_url(url), headers, "POST", content)
        try:
            body = bytearray()
            async for piece in iter_body(response, 4096):
                body += piece
                if len(body) >= body_limit:
                    break
            return response.status_code, bytes(body[:body_limit])
        finally:
            await response.aclose()


async def iter_body(response: httpx.Response, piece_bytes: int) -> AsyncIterator[bytes]:
    """The body in pieces; a connection lost or stalled mid-body is the source being unavailable."""
    try:
        async for piece in response.aiter_bytes(piece_bytes):
            yield piece
    except httpx.TransportError as exc:
        raise _unavailable(exc) from exc


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole body, refused (SOURCE_TOO_LARGE) as soon as it is known to pass `limit` bytes."""
    declared = int(response.headers.get("content-length") or 0)
    if declared > limit:
        raise too_large(declared, limit)
    body = bytearray()
    async for piece in iter_body(response, 64 * 1024):
        body += piece
        if len(body) > limit:
            raise too_large(len(body), limit)
    return bytes(body)


def create_fetcher(
    settings: FetchSettings, *, field: str, resolver: Resolver = system_resolver
) -> SafeFetcher:
    """A fetcher configured from a service's `FetchSettings`."""
    verify: ssl.SSLContext | bool = True
    if settings.fetch_ca_file is not None:
        verify = ssl.create_default_context(cafile=str(settings.fetch_ca_file))
    policy = FetchPolicy(
        allow_local=settings.fetch_allow_local,
        max_redirects=settings.fetch_max_redirects,
        connect_timeout=settings.fetch_connect_timeout_seconds,
        read_timeout=settings.fetch_read_timeout_seconds,
    )
    return SafeFetcher(policy, create_client(policy, verify), resolver, field=field)


def _unavailable(exc: Exception) -> errors.Unavailable:
    return errors.Unavailable(
        f"the source could not be fetched: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE", retry_after=5.0
    )


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in {404, 410}:
        raise errors.NotFound(f"the source answered {status}", reason="SOURCE_NOT_FOUND")
    if status == 429 or status >= 500:
        delay = retry_after_seconds(response.headers.get("retry-after"))
        retry_after = 5.0 if delay is None else min(delay, 3600.0)
        raise errors.Unavailable(
            f"the source answered {status}", reason="SOURCE_UNAVAILABLE", retry_after=retry_after
        )
    raise errors.FailedPrecondition(f"the source answered {status}", reason="SOURCE_REJECTED")
