"""The use cases of outbound webhooks (`Webhooks`): a user's endpoints, their secrets, their deliveries.
Sending is webhook_sender's; what is announced when, the job_events_webhooks trigger's (migration 0008).

A URL is checked when it is registered and again at every delivery, by the one SSRF implementation
(videojobs.safe_fetch): https to public addresses only; in development also loopback (plain http too), so a
receiver on the developer's machine works.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from job_service.domain import WebhookDelivery, WebhookEndpoint, WebhookEndpointPatch
from job_service.webhook_queries import WebhookQueries
from job_service.webhook_signing import SecretBox, new_secret
from videojobs.context import Caller
from videojobs.contract import WebhookEventType
from videojobs.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from videojobs.logs import get_logger
from videojobs.safe_fetch import SafeFetcher

log = get_logger(__name__)

MAX_ENDPOINTS_PER_USER = 20
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 500
MAX_DELIVERIES_PAGE = 100
EVENT_TYPES = tuple(WebhookEventType)


def acting_for(caller: Caller, user_id: str) -> str:
    """The user a call acts for: the caller, or (admins only) the user the request names."""
    if not user_id or user_id == caller.user_id:
        return caller.user_id
    if not caller.is_admin:
        raise PermissionDenied("only an admin may act for another user", reason="ADMIN_REQUIRED")
    return user_id


def parse_id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field(field, "must be a UUID") from None


def check_event_types(values: Sequence[str], field: str = "event_types") -> tuple[str, ...]:
    if not values:
        raise InvalidArgument.field(field, f"name at least one of: {', '.join(EVENT_TYPES)}")
    violations = [
        FieldViolation(f"{field}[{index}]", f"{value!r} is not one of: {', '.join(EVENT_TYPES)}")
        for index, value in enumerate(values)
        if value not in EVENT_TYPES
    ]
    if violations:
        raise InvalidArgument(violations)
    return tuple(dict.fromkeys(values))


def check_description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise InvalidArgument.field("description", f"at most {MAX_DESCRIPTION_CHARS} characters")
    return value


class Webhooks:
    def __init__(
        self, queries: WebhookQueries, box: SecretBox, fetcher: SafeFetcher, *, secret_overlap_seconds: float
    ) -> None:
        self._queries = queries
        self._box = box
        self._fetcher = fetcher
        self._overlap = secret_overlap_seconds

    async def check_url(self, url: str) -> str:
        """The URL if deliveries may go there now (resolved and checked); INVALID_ARGUMENT on `url` if not."""
        if not url:
            raise InvalidArgument.field("url", "required")
        if len(url) > MAX_URL_CHARS:
            raise InvalidArgument.field("url", f"at most {MAX_URL_CHARS} characters")
        parsed = self._fetcher.check_url(url)
        try:
            await self._fetcher.address_for(parsed)
        except Unavailable:
            raise InvalidArgument.field("url", f"the host {parsed.host!r} does not resolve") from None
        return str(parsed)

    async def create(
        self, caller: Caller, user_id: str, url: str, event_types: Sequence[str], description: str
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its secret, the only time the secret is shown."""
        owner = acting_for(caller, user_id)
        types = check_event_types(event_types)
        description = check_description(description)
        url = await self.check_url(url)
        if len(await self._queries.list_endpoints(owner)) >= MAX_ENDPOINTS_PER_USER:
            raise FailedPrecondition(
                f"a user may have at most {MAX_ENDPOINTS_PER_USER} webhook endpoints",
                reason="TOO_MANY_WEBHOOK_ENDPOINTS",
            )
        secret = new_secret()
        endpoint = await self._queries.create_endpoint(owner, url, types, description, self._box.seal(secret))
        log.info("webhook endpoint created", endpoint_id=str(endpoint.id), event_types=list(types))
        return endpoint, secret

    async def signing_secret(self, caller: Caller, user_id: str) -> str:
        """The user's own signing secret (made on first use), which signs the one-off `webhook_url` of their
        creates. Unlike an endpoint's, it can be read again: an app needs it wherever it verifies."""
        sealed = await self._queries.signing_secret(acting_for(caller, user_id), self._box.seal(new_secret()))
        return self._box.open(sealed)

    async def add_job_webhook(self, user_id: str, job_id: uuid.UUID, url: str) -> uuid.UUID:
        """A one-off endpoint for one job's outcome (its terminal event), signed with the user's signing
        secret; written before the job exists so that no event of it can be missed."""
        try:
            checked = await self.check_url(url)
        except InvalidArgument as refused:
            raise InvalidArgument(
                [FieldViolation("webhook_url", v.description) for v in refused.violations],
                reason=refused.reason,
            ) from None
        sealed = await self._queries.signing_secret(user_id, self._box.seal(new_secret()))
        terminal = [t for t in EVENT_TYPES if t != WebhookEventType.STATE_CHANGED]
        endpoint = await self._queries.create_endpoint(user_id, checked, terminal, "", sealed, job_id=job_id)
        return endpoint.id

    async def drop_job_webhook(self, user_id: str, endpoint_id: uuid.UUID) -> None:
        """A one-off endpoint whose create made no job (a replay, a duplicate, a refusal)."""
        await self._queries.delete_endpoint(user_id, endpoint_id)

    async def endpoints(self, caller: Caller, user_id: str) -> list[WebhookEndpoint]:
        return await self._queries.list_endpoints(acting_for(caller, user_id))

    async def get(self, caller: Caller, user_id: str, endpoint_id: str) -> WebhookEndpoint:
        found = await self._queries.get_endpoint(acting_for(caller, user_id), parse_id(endpoint_id, "id"))
        if found is None:
            raise NotFound("no such webhook endpoint", reason="WEBHOOK_ENDPOINT_NOT_FOUND")
        return found

    async def update(
        self, caller: Caller, user_id: str, endpoint_id: str, patch: WebhookEndpointPatch
    ) -> WebhookEndpoint:
        owner = acting_for(caller, user_id)
        checked = WebhookEndpointPatch(
            url=None if patch.url is None else await self.check_url(patch.url),
            event_types=None if patch.event_types is None else check_event_types(patch.event_types),
            description=None if patch.description is None else check_description(patch.description),
            enabled=patch.enabled,
        )
        found = await self._queries.update_endpoint(owner, parse_id(endpoint_id, "id"), checked)
        if found is None:
            raise NotFound("no such webhook endpoint", reason="WEBHOOK_ENDPOINT_NOT_FOUND")
        return found

    async def delete(self, caller: Caller, user_id: str, endpoint_id: str) -> None:
        if not await self._queries.delete_endpoint(acting_for(caller, user_id), parse_id(endpoint_id, "id")):
            raise NotFound("no such webhook endpoint", reason="WEBHOOK_ENDPOINT_NOT_FOUND")
        log.info("webhook endpoint deleted", endpoint_id=endpoint_id)

    async def rotate_secret(
        self, caller: Caller, user_id: str, endpoint_id: str
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret (shown this once); the old one also signs until `previous_secret_expire_time`."""
        secret = new_secret()
        found = await self._queries.rotate_secret(
            acting_for(caller, user_id), parse_id(endpoint_id, "id"), self._box.seal(secret), self._overlap
        )
        if found is None:
            raise NotFound("no such webhook endpoint", reason="WEBHOOK_ENDPOINT_NOT_FOUND")
        log.info("webhook secret rotated", endpoint_id=endpoint_id)
        return found, secret

    async def deliveries(
        self, caller: Caller, user_id: str, *, endpoint_id: str = "", job_id: str = "", page_size: int = 0
    ) -> list[WebhookDelivery]:
        """Deliveries to one endpoint or for one job (either or both), newest event first."""
        owner = acting_for(caller, user_id)
        if not endpoint_id and not job_id:
            raise InvalidArgument.field("endpoint_id", "name an endpoint_id or a job_id")
        if page_size < 0 or page_size > MAX_DELIVERIES_PAGE:
            raise InvalidArgument.field("page_size", f"between 0 and {MAX_DELIVERIES_PAGE}")
        return await self._queries.deliveries(
            owner,
            endpoint_id=parse_id(endpoint_id, "endpoint_id") if endpoint_id else None,
            job_id=parse_id(job_id, "job_id") if job_id else None,
            limit=page_size or 20,
        )

    async def redeliver(self, caller: Caller, user_id: str, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now (same webhook-id), however it ended; its endpoint must be enabled."""
        owner = acting_for(caller, user_id)
        delivery = parse_id(delivery_id, "id")
        endpoint = await self._queries.endpoint_of(owner, delivery)
        if endpoint is None:
            raise NotFound("no such webhook delivery", reason="WEBHOOK_DELIVERY_NOT_FOUND")
        if endpoint.disabled_time is not None:
            raise FailedPrecondition(
                f"the endpoint is disabled ({endpoint.disabled_reason}); enable it first",
                reason="WEBHOOK_ENDPOINT_DISABLED",
            )
        found = await self._queries.redeliver(owner, delivery)
        if found is None:
            raise NotFound("no such webhook delivery", reason="WEBHOOK_DELIVERY_NOT_FOUND")
        return found
