"""The bucket, through the real google-cloud-storage client: construction, threads, and the error boundary.

The client is synchronous, so every call runs on a small thread pool (`Gcs.run`) and the aio server
stays responsive. Every request carries a timeout and a bounded retry; whatever the client raises is
turned into a domain error in one place (`domain_error`), using python-storage's own retry predicate to
decide what is transient.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import google.auth
import google.auth.exceptions
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY, _should_retry
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter

from storage_service.domain import ObjectRef, StoredObject
from storage_service.settings import StorageServiceSettings
from videojobs import errors
from videojobs.logs import get_logger

log = get_logger(__name__)

_SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
# Asked of a caller who met a transient storage failure; the orchestrator backs off from here.
TRANSIENT_RETRY_AFTER_SECONDS = 1.0

_P = ParamSpec("_P")
_T = TypeVar("_T")


def domain_error(exc: BaseException) -> errors.ServiceError:
    """The one mapping from what the GCS client raises to what callers of this service see."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if isinstance(exc, gexc.NotFound):
        return errors.NotFound(f"storage: {exc.message}", reason="OBJECT_NOT_FOUND")
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized | google.auth.exceptions.RefreshError):
        return errors.PermissionDenied(
            "storage refused the service's credentials for this operation", reason="STORAGE_PERMISSION_DENIED"
        )
    if isinstance(exc, gexc.PreconditionFailed):
        return errors.FailedPrecondition(
            "the object changed while it was being used", reason="GENERATION_MISMATCH"
        )
    if _should_retry(exc) or isinstance(exc, google.auth.exceptions.TransportError | TimeoutError):
        return errors.Unavailable(
            f"storage is unavailable: {type(exc).__name__}",
            reason="STORAGE_UNAVAILABLE",
            retry_after=TRANSIENT_RETRY_AFTER_SECONDS,
        )
    if isinstance(exc, gexc.GoogleAPICallError):
        return errors.Internal(f"storage error {exc.code}: {exc.message}", reason="STORAGE_ERROR")
    return errors.Internal("unexpected storage failure", reason="STORAGE_ERROR")


def _credentials_file(settings: StorageServiceSettings) -> service_account.Credentials | None:
    if settings.credentials_file is None:
        return None
    key: service_account.Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(settings.credentials_file), scopes=_SCOPES
    )
    return key


def create_client(settings: StorageServiceSettings) -> tuple[storage.Client, Credentials | None]:
    """The storage client and the credentials used for signing URLs (None when nothing can sign)."""
    key = _credentials_file(settings)
    emulator = settings.emulator_url
    if emulator is not None:
        # The emulator takes anonymous requests; a key, if configured, is still used to sign URLs.
        client = storage.Client(
            project="videojobs-dev",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=emulator),
        )
        return client, key
    if key is not None:
        return storage.Client(project=key.project_id, credentials=key), key
    credentials, project = google.auth.default(scopes=_SCOPES)
    return storage.Client(project=project, credentials=credentials), credentials


class Gcs:
    """The client, its thread pool, and the call conventions (timeout, bounded retry, error mapping)."""

    def __init__(self, settings: StorageServiceSettings, client: storage.Client, signer: Credentials | None):
        self.settings = settings
        self.client = client
        self.signer = signer
        self.timeout = settings.gcs_timeout_seconds
        self.retry: Retry = DEFAULT_RETRY.with_timeout(settings.gcs_retry_seconds)
        self._pool = ThreadPoolExecutor(settings.io_threads, thread_name_prefix="gcs")
        # The client's HTTP session keeps 10 connections per host. Every I/O thread may hold two (a ranged
        # reader's open response while it reloads metadata); fewer makes urllib3 drop and reopen connections
        # under load ("connection pool is full").
        adapter = HTTPAdapter(pool_maxsize=2 * settings.io_threads)
        for scheme in ("https://", "http://"):
            client._http.mount(scheme, adapter)

    @classmethod
    def from_settings(cls, settings: StorageServiceSettings) -> Gcs:
        client, signer = create_client(settings)
        return cls(settings, client, signer)

    def blob(self, ref: ObjectRef) -> storage.Blob:
        return self.client.bucket(ref.bucket).blob(ref.name)

    async def run(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run blocking `fn` on the pool; anything it raises comes back as a domain error."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(self._pool, call)
        except errors.ServiceError:
            raise
        except Exception as exc:
            mapped = domain_error(exc)
            if isinstance(mapped, errors.Internal):
                log.warning("storage call failed", error=repr(exc))
            raise mapped from exc

    def get(self, ref: ObjectRef) -> storage.Blob | None:
        """Blocking: the object's metadata, or None when it does not exist."""
        bucket = self.client.bucket(ref.bucket)
        return bucket.get_blob(ref.name, timeout=self.timeout, retry=self.retry)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def write_once(gcs: Gcs, dest: ObjectRef, data: bytes, content_type: str) -> StoredObject:
    """Blocking: write `data` at `dest` unless an object is there already (if_generation_match=0), in which
    case that one is returned with reused=True."""
    blob = gcs.blob(dest)
    try:
        blob.upload_from_string(
            data, content_type=content_type, if_generation_match=0, timeout=gcs.timeout, retry=gcs.retry
        )
    except gexc.PreconditionFailed:
        existing = gcs.get(dest)
        if existing is None:
            raise
        return stored(existing, reused=True)
    return stored(blob)


def stored(blob: storage.Blob, *, reused: bool = False, others: tuple[str, ...] = ()) -> StoredObject:
    return StoredObject(
        ref=ObjectRef(blob.bucket.name, blob.name),
        size_bytes=int(blob.size or 0),
        content_type=blob.content_type or "",
        crc32c=blob.crc32c or "",
        generation=int(blob.generation or 0),
        reused=reused,
        other_candidates=others,
    )


@asynccontextmanager
async def deadline(seconds: float, what: str, *, reason: str) -> AsyncIterator[None]:
    """The block must finish within `seconds`, else DEADLINE_EXCEEDED (which callers may retry)."""
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError as exc:
        if not scope.expired():
            raise
        raise errors.DeadlineExceeded(f"{what} took longer than {seconds:g} s", reason=reason) from exc


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it.

    Serializes work on one destination inside this process, so concurrent calls here do the work once.
    Across processes, the if_generation_match=0 precondition on every write is what keeps one generation.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
