"""OAuth access tokens for Vertex AI from Google application default credentials (google-auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests

from videojobs import errors

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class TimedRequest(google.auth.transport.requests.Request):
    """google-auth's HTTP transport, but never waiting longer than `timeout` (the library's default is 120 s
    per token request, well past any RPC deadline; the worker thread would outlive the call)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        bounded = self._timeout if timeout is None else min(float(timeout), self._timeout)
        return super().__call__(url, method, body, headers, timeout=bounded, **kwargs)  # type: ignore[no-untyped-call]


class ApplicationDefaultTokens:
    """Finds credentials once, refreshes them when they expire; blocking google-auth work runs in a thread
    under a timeout, so a slow metadata server cannot hold an RPC."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._credentials: Any = None
        self._request = TimedRequest(timeout)
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:
            try:
                return await asyncio.wait_for(asyncio.to_thread(self._token), self._timeout)
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise errors.FailedPrecondition(
                    "veo: no Google application default credentials "
                    "(set GOOGLE_APPLICATION_CREDENTIALS or run on GCP)",
                    reason="PROVIDER_NOT_CONFIGURED",
                    metadata={"provider": "veo"},
                ) from exc
            except (google.auth.exceptions.TransportError, google.auth.exceptions.RefreshError) as exc:
                raise errors.Unavailable(
                    f"veo: could not refresh the access token: {type(exc).__name__}",
                    reason="PROVIDER_UNAVAILABLE",
                    retry_after=5.0,
                ) from exc
            except TimeoutError as exc:
                raise errors.Unavailable(
                    "veo: getting an access token timed out", reason="PROVIDER_UNAVAILABLE", retry_after=5.0
                ) from exc

    def _token(self) -> str:
        if self._credentials is None:
            self._credentials, _ = google.auth.default(scopes=_SCOPES)
        if not self._credentials.valid:
            self._credentials.refresh(self._request)
        return str(self._credentials.token)


def static_token(token: str) -> Callable[[], Awaitable[str]]:
    """A fixed token (VIDEOJOBS_VEO_ACCESS_TOKEN), e.g. one minted by a sidecar, or for the fakes."""

    async def source() -> str:
        return token

    return source
