"""Download links for completed jobs, signed by storage_service, with a deadline of their own and a cache.

A read (GetJob, ListJobs, a watch) must not wait on storage_service: links are signed with
`timeout_seconds` (a second by default, not the usual call deadline), and what storage_service cannot sign
in that time is left out, the job then marked `urls_unavailable`. A signed link is kept and handed out
again until `refresh_seconds` before it expires, so repeated reads of the same jobs (a dashboard polling,
a client following a job) cost no call at all, and keep their links through a short storage outage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cachetools import TLRUCache

from job_service.peers import CallFailed, StorageClient
from videojobs.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expire_time: datetime


class SignedUrls:
    def __init__(
        self,
        storage: StorageClient,
        *,
        ttl_seconds: int,
        timeout_seconds: float,
        refresh_seconds: float,
        max_cached: int = 10_000,
    ) -> None:
        self._storage = storage
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._refresh = refresh_seconds
        self._cache: TLRUCache[str, SignedUrl] = TLRUCache(max_cached, self._usable_until, timer=time.time)

    def _usable_until(self, _uri: str, signed: SignedUrl, _now: float) -> float:
        return signed.expire_time.timestamp() - self._refresh

    async def sign(self, uris: Sequence[str]) -> dict[str, SignedUrl]:
        """A link for each of `uris` that could be signed (or was cached); the others are missing."""
        found: dict[str, SignedUrl] = {}
        missing: list[str] = []
        for uri in dict.fromkeys(uris):
            cached = self._cache.get(uri)
            if cached is None:
                missing.append(uri)
            else:
                found[uri] = cached
        if not missing:
            return found
        try:
            urls, expire_time = await self._storage.sign(missing, self._ttl, deadline_seconds=self._timeout)
        except CallFailed as failure:
            # The jobs are still worth returning without links; the next read signs again.
            log.warning("could not sign urls", code=failure.code, reason=failure.reason, peer=failure.peer)
            return found
        for uri, url in zip(missing, urls, strict=True):
            signed = SignedUrl(url, expire_time)
            self._cache[uri] = signed
            found[uri] = signed
        return found
