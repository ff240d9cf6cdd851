"""Calling a provider over HTTP: explicit timeouts, bounded retries, and the submit rule.

THE SUBMIT RULE. A submission starts a paid job at the provider, so it is resent only when the provider
certainly did not accept it:
  - the connection was never made (connect error or refused, connect timeout, no free pooled connection);
  - the provider answered 429 (rate limited: refused before doing anything);
  - the provider answered 503 (overloaded: refused before processing; fal documents these as not billed).
Any other failure after the request may have left this process (read or write timeout, a dropped connection,
500/502/504, a 2xx whose body we cannot parse) may have created a job, and resending could create a second
one. We stop there and raise UNAVAILABLE with ErrorInfo reason SUBMIT_OUTCOME_UNKNOWN; the orchestrator
decides what to do (it knows the job, we do not). Why: docs/decisions/0001-submit-rule.md.

Status, result and cancel calls are safe to repeat: any transient failure (timeouts, connection errors, 408,
429, 5xx, an unparseable body) is retried with exponential backoff and full jitter, at most `attempts` times,
never waiting longer than `max_wait` inside one call. A provider that keeps failing, or asks (Retry-After) for
a longer wait than that, becomes UNAVAILABLE with RetryInfo, so the caller schedules the next try instead of
an RPC hanging on it. When the last answer was a 429 the ErrorInfo reason is PROVIDER_THROTTLED (job_service
then holds back every submission to that provider, not just this one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from videojobs import errors
from videojobs.backoff import full_jitter, retry_after_seconds
from videojobs.contract import Reason
from videojobs.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"

# Answers that say "the provider did not take this request" (see the submit rule above).
_NOT_ACCEPTED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    # From ProviderServiceSettings (retry_attempts, retry_initial_seconds, retry_max_seconds), which hold the
    # defaults.
    attempts: int
    initial: float
    max_wait: float
    # RetryInfo delay when we give up and the provider did not say how long (unavailable_retry_seconds).
    fallback_retry_after: float


class TransientFailure(Exception):
    """A failure worth trying again; `not_accepted` when the provider certainly did not take the request."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        not_accepted: bool = False,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.not_accepted = not_accepted
        # HTTP 429: the caller should slow down towards this provider, not just retry this request.
        self.throttled = throttled


class MalformedResponse(TransientFailure):
    """The provider answered, but not with what its protocol promises (an HTML error page, cut JSON)."""


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise MalformedResponse(f"HTTP {response.status_code} with a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedResponse(f"HTTP {response.status_code} with JSON that is not an object")
    return body


def body_start(response: httpx.Response) -> str:
    return response.text[:200]


def success_object(
    provider: str, response: httpx.Response, detail: Callable[[httpx.Response], str] = body_start
) -> dict[str, Any]:
    """A success answer's JSON object; an error answer raised as its `rejection`, `detail` saying why."""
    if response.is_error:
        raise rejection(provider, response, detail(response))
    return json_object(response)


def rejection(provider: str, response: httpx.Response, detail: str) -> errors.ServiceError:
    """A final (non-transient) error answer, as the domain error the caller should see."""
    status = response.status_code
    metadata = {"provider": provider, "http_status": str(status)}
    if status in (401, 403):
        return errors.FailedPrecondition(
            f"{provider} refused our credentials (HTTP {status})",
            reason="PROVIDER_AUTH_FAILED",
            metadata=metadata,
        )
    if status == 404:
        return errors.NotFound(
            f"{provider} knows no such job", reason="PROVIDER_JOB_NOT_FOUND", metadata=metadata
        )
    return errors.FailedPrecondition(
        f"{provider} rejected the request (HTTP {status}): {detail}"[:1000],
        reason="PROVIDER_REJECTED_REQUEST",
        metadata=metadata,
    )


def _transport_failure(exc: httpx.TransportError) -> TransientFailure:
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return TransientFailure(f"{type(exc).__name__}: {exc}".rstrip(": "), not_accepted=never_sent)


class _Wait:
    """Exponential backoff with full jitter, never shorter than the provider's Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> float:
        wait = full_jitter(state.attempt_number, base=self._policy.initial, cap=self._policy.max_wait)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientFailure) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait


class _Stop:
    """Stop after `attempts`, or at once when the provider asks for a longer wait than we hold an RPC for."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        return (
            isinstance(exc, TransientFailure)
            and exc.retry_after is not None
            and exc.retry_after > self._policy.max_wait
        )


RetryHint = Callable[[httpx.Response], float | None]


class ProviderHttp:
    """One provider's HTTP calls, with the retry rules above. The httpx client carries the timeouts.

    `retry_hint` reads a wait the provider put in an error body rather than in Retry-After (Google's
    RetryInfo); the longer of the two counts.
    """

    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        retry_hint: RetryHint | None = None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.policy = policy
        self.retry_hint = retry_hint

    async def call(
        self,
        method: str,
        url: str,
        parse: Callable[[httpx.Response], T],
        *,
        final: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> T:
        """A status, result or cancel call: transient failures retried within the policy. `final` marks
        error answers that are the provider's reply to parse (e.g. a failed job's own 5xx), not trouble."""
        try:
            return await self._retrying(lambda exc: True, method, url, parse, kwargs, final)
        except TransientFailure as exc:
            raise self._unavailable(exc) from exc

    async def submit(self, method: str, url: str, parse: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        """A submission: resent only when the provider certainly did not accept it (the submit rule)."""
        try:
            return await self._retrying(lambda exc: exc.not_accepted, method, url, parse, kwargs)
        except TransientFailure as exc:
            if exc.not_accepted:
                raise self._unavailable(exc) from exc
            log.warning("submission outcome unknown", provider=self.provider, error=str(exc))
            raise errors.Unavailable(
                f"{self.provider} may or may not have accepted the submission ({exc}); "
                "not resent, to avoid a second paid job",
                reason=Reason.SUBMIT_OUTCOME_UNKNOWN,
                metadata={"provider": self.provider, "cause": str(exc)[:200]},
            ) from exc

    async def _retrying(
        self,
        should_retry: Callable[[TransientFailure], bool],
        method: str,
        url: str,
        parse: Callable[[httpx.Response], T],
        kwargs: dict[str, Any],
        final: Callable[[httpx.Response], bool] | None = None,
    ) -> T:
        retrying = AsyncRetrying(
            stop=_Stop(self.policy),
            wait=_Wait(self.policy),
            retry=retry_if_exception(lambda exc: isinstance(exc, TransientFailure) and should_retry(exc)),
            before_sleep=self._log_retry(method, url),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, url, parse, kwargs, final)
        raise AssertionError("tenacity returns or raises")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url: str,
        parse: Callable[[httpx.Response], T],
        kwargs: dict[str, Any],
        final: Callable[[httpx.Response], bool] | None,
    ) -> T:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.UnsupportedProtocol as exc:
            raise errors.FailedPrecondition(
                f"{self.provider} URL is misconfigured: {exc}", reason="PROVIDER_MISCONFIGURED"
            ) from exc
        except httpx.TransportError as exc:
            raise _transport_failure(exc) from exc
        status = response.status_code
        if (status in (408, 429) or status >= 500) and not (final is not None and final(response)):
            raise TransientFailure(
                f"HTTP {status}",
                retry_after=self._retry_after(response),
                not_accepted=status in _NOT_ACCEPTED_STATUSES,
                throttled=status == 429,
            )
        try:
            return parse(response)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # JSON of the right kind but the wrong shape (a number where a list belongs, null for an
            # object): as unreadable as cut JSON, so treated the same way rather than as a crash.
            raise MalformedResponse(
                f"HTTP {status} with an answer of an unexpected shape ({type(exc).__name__})"
            ) from exc

    def _retry_after(self, response: httpx.Response) -> float | None:
        delays = [
            retry_after_seconds(response.headers.get("retry-after")),
            self.retry_hint(response) if self.retry_hint else None,
        ]
        known = [delay for delay in delays if delay is not None]
        return max(known) if known else None

    def _unavailable(self, exc: TransientFailure) -> errors.Unavailable:
        delay = exc.retry_after if exc.retry_after is not None else self.policy.fallback_retry_after
        return errors.Unavailable(
            f"{self.provider} is unavailable: {exc}",
            reason=Reason.PROVIDER_THROTTLED if exc.throttled else PROVIDER_UNAVAILABLE,
            metadata={"provider": self.provider},
            retry_after=delay,
        )

    def _log_retry(self, method: str, url: str) -> Callable[[RetryCallState], Awaitable[None]]:
        path = urlsplit(url).path  # never the query or headers: they can carry secrets

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info(
                "provider call failed; retrying",
                provider=self.provider,
                http_method=method,
                path=path,
                attempt=state.attempt_number,
                error=str(exc),
                wait_seconds=round(state.upcoming_sleep, 3),
            )

        return before_sleep


def make_client(
    *,
    connect_timeout: float,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """The httpx client every adapter uses; `transport` lets tests swap the network (MockTransport). A
    call finding all `max_connections` busy waits for one at most `connect_timeout`."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
        transport=transport,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
    )
