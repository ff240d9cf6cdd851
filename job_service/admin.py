"""The admin use cases of JobService (`videojobs admin` calls them over gRPC): every user's jobs, any job's
cancel and retry, any user's quota, and API keys. The caller's admin role is checked by the servicer; these
act on any user's data, so every input is validated here like the user-facing ones in jobs.py.

Cancel and retry act exactly as the job's owner would (the same rules, refunds and quota), through `Jobs`:
an operator's retry takes a unit of the owner's daily quota (reset it first with ResetQuota if needed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from job_service import apikeys, paging
from job_service.domain import ApiKey, Cursor, Job, JobFilter, KeyPage, Page, Quota
from job_service.job_queries import JobQueries
from job_service.jobs import Jobs, job_id_of, not_found
from job_service.key_queries import ApiKeyQueries
from job_service.limit_queries import LimitQueries
from job_service.limits import ProviderQueue
from videojobs.context import Caller
from videojobs.contract import PROVIDERS
from videojobs.errors import FieldViolation, InvalidArgument, NotFound
from videojobs.identity import MAX_USER_ID_CHARS, user_id_problem
from videojobs.logs import get_logger

log = get_logger(__name__)


class AdminJobs:
    def __init__(self, jobs: Jobs, queries: JobQueries, keys: ApiKeyQueries, limits: LimitQueries) -> None:
        self._jobs = jobs
        self._queries = queries
        self._keys = keys
        self._limits = limits

    async def list(self, wanted: JobFilter, page_size: int, page_token: str) -> Page:
        violations = []
        if wanted.provider and wanted.provider not in PROVIDERS:
            violations.append(FieldViolation("provider", f"must be one of {', '.join(PROVIDERS)}"))
        if wanted.user_id and len(wanted.user_id) > MAX_USER_ID_CHARS:
            violations.append(FieldViolation("user_id", f"must be at most {MAX_USER_ID_CHARS} characters"))
        if violations:
            raise InvalidArgument(violations)
        size = paging.page_size(page_size)
        after = paging.decode(page_token, wanted.states, wanted.scope())
        found = await self._queries.admin_list_jobs(wanted, after, size + 1)
        if len(found) <= size:
            return Page(jobs=await self._jobs.with_urls(found))
        last = found[size - 1]
        token = paging.encode(Cursor(last.create_time, last.id), wanted.states, wanted.scope())
        return Page(jobs=await self._jobs.with_urls(found[:size]), next_page_token=token)

    async def get(self, job_id: str) -> Job:
        return await self._jobs.get(await self._owner(job_id), job_id)

    async def cancel(self, job_id: str) -> Job:
        owner = await self._owner(job_id)
        log.info("admin cancels a job", job_id=job_id, owner=owner.user_id)
        return await self._jobs.cancel(owner, job_id)

    async def retry(self, job_id: str) -> Job:
        owner = await self._owner(job_id)
        log.info("admin retries a job", job_id=job_id, owner=owner.user_id)
        return await self._jobs.retry(owner, job_id)

    async def _owner(self, job_id: str) -> Caller:
        user_id = await self._queries.job_owner(job_id_of(job_id))
        if user_id is None:
            raise not_found(job_id)
        return Caller(user_id=user_id)

    async def queue_stats(self) -> Sequence[ProviderQueue]:
        return await self._limits.queue_stats(PROVIDERS)

    async def quota(self, user_id: str) -> Quota:
        return await self._jobs.quota(_user_id(user_id))

    async def create_key(self, user_id: str, *, admin: bool) -> tuple[ApiKey, str]:
        key_id, key = await apikeys.mint_with_id(self._keys, _user_id(user_id), admin=admin)
        created = await self._keys.get_key(key_id)
        assert created is not None
        log.info("api key created", key_id=str(key_id), owner=user_id, role=created.role)
        return created, key

    async def list_keys(
        self, user_id: str, include_revoked: bool, page_size: int, page_token: str
    ) -> KeyPage:
        if len(user_id) > MAX_USER_ID_CHARS:
            raise InvalidArgument.field("user_id", f"must be at most {MAX_USER_ID_CHARS} characters")
        size = paging.page_size(page_size)
        scope = f"keys;user={user_id};revoked={include_revoked}"
        after = paging.decode(page_token, (), scope)
        found = await self._keys.list_keys(user_id or None, include_revoked, after, size + 1)
        if len(found) <= size:
            return KeyPage(keys=found)
        last = found[size - 1]
        return KeyPage(found[:size], paging.encode(Cursor(last.create_time, last.id), (), scope))

    async def revoke_key(self, key_id: str) -> ApiKey:
        try:
            parsed = uuid.UUID(key_id)
        except ValueError:
            raise InvalidArgument.field("key_id", "must be an API key id (UUID)") from None
        revoked = await self._keys.revoke(parsed)
        if revoked is None:
            raise NotFound(
                f"API key {key_id} not found", reason="API_KEY_NOT_FOUND", metadata={"key_id": key_id}
            )
        log.info("api key revoked", key_id=key_id, owner=revoked.user_id)
        return revoked


def _user_id(value: str) -> str:
    if not value:
        raise InvalidArgument.field("user_id", "is required")
    problem = user_id_problem(value)
    if problem:
        raise InvalidArgument.field("user_id", problem)
    return value
