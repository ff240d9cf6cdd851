"""Assemble and run job_service: database, migrations, the servicer, the event hub and the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health_pb2
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from job_service import database
from job_service.admin import AdminJobs
from job_service.domain import Limits
from job_service.event_hub import EventHub
from job_service.generation_time_queries import GenerationTimeQueries
from job_service.job_queries import JobQueries
from job_service.jobs import Jobs
from job_service.key_queries import ApiKeyQueries
from job_service.lease_queries import LeaseQueries
from job_service.limit_queries import LimitQueries
from job_service.limits import ProviderLimit, parse_scope
from job_service.maintenance_queries import MaintenanceQueries, RetentionQueries, ThumbnailQueries
from job_service.metrics import JobMetrics, serve_metrics
from job_service.orchestrator import Orchestrator
from job_service.outbox_queries import OutboxQueries
from job_service.peers import Peers, ProviderClient, StorageClient
from job_service.policy import Policy
from job_service.poll_schedule import LearnedPolls, PollSchedule
from job_service.readiness import DatabaseReadiness, ProbeOptions
from job_service.retention import Retention, RetentionPolicy
from job_service.servicer import JobServicer
from job_service.settings import JobServiceSettings
from job_service.signed_urls import SignedUrls
from job_service.status_streams import StatusStreams, StreamOptions
from job_service.sweep import Sweeper
from job_service.thumbnails import ThumbnailBackfill
from job_service.upkeep import Upkeep, UpkeepOptions
from job_service.webhook_queries import WebhookQueries
from job_service.webhook_sender import SenderOptions, WebhookSender
from job_service.webhook_signing import SecretBox
from job_service.webhooks import Webhooks
from job_service.worker import Worker, WorkerOptions
from videojobs.attributes import from_attributes
from videojobs.clients import internal_channel
from videojobs.logs import configure_logging, get_logger
from videojobs.message_limits import GRPC_MAX_MESSAGE_BYTES
from videojobs.safe_fetch import FetchPolicy, Resolver, SafeFetcher, create_client, system_resolver
from videojobs.server import GrpcServer
from videojobs.server import create_server as create_grpc_server
from videojobs.startup import wait_for
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

log = get_logger(__name__)

SERVICE_NAME = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name


@dataclass
class JobService:
    """job_service's parts. `grpc` is None for a worker-only replica without a health port (else it serves
    only the health service); `worker` is None when disabled."""

    engine: AsyncEngine
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    jobs: Jobs
    peers: Peers
    hub: EventHub
    worker: Worker | None
    channels: tuple[grpc.aio.Channel, ...]
    grpc: GrpcServer | None = None
    upkeep: Upkeep | None = None
    metrics: JobMetrics = field(default_factory=JobMetrics)
    # Where /metrics is served (None: not served); started with the service.
    metrics_address: tuple[str, int] | None = None
    leases: LeaseQueries | None = None
    metrics_sample_seconds: float = 5.0
    readiness: DatabaseReadiness | None = None
    _readiness_task: asyncio.Task[None] | None = None
    webhooks: Webhooks | None = None
    # Sends outbound webhooks beside the worker (None when the worker is disabled).
    webhook_sender: WebhookSender | None = None
    outbox: OutboxQueries | None = None
    webhook_fetcher: SafeFetcher | None = None
    # The status streams the worker follows (None when the worker is disabled).
    status_streams: StatusStreams | None = None
    _metrics_server: WSGIServer | None = None
    _sampler_task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _worker_task: asyncio.Task[None] | None = None
    _health_task: asyncio.Task[None] | None = None
    _upkeep_task: asyncio.Task[None] | None = None
    _sender_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self.grpc is not None, "a worker-only replica has no port"
        return self.grpc.port

    @property
    def metrics_port(self) -> int:
        assert self._metrics_server is not None, "metrics are not served (VIDEOJOBS_METRICS_PORT unset)"
        return int(self._metrics_server.server_address[1])

    async def start(self) -> None:
        if self.metrics_address is not None:
            self._metrics_server = serve_metrics(self.metrics, *self.metrics_address)
        await self.pool.open(wait=False)  # like the engine: connect lazily, so a down database is UNAVAILABLE
        await self.hub.start()
        if self.grpc is not None:
            await self.grpc.start()
        if self.readiness is not None:
            self._readiness_task = asyncio.create_task(self.readiness.run(self._stopping), name="readiness")
        if self.worker is not None:
            self._worker_task = asyncio.create_task(self.worker.run(self._stopping), name="worker")
            self._worker_task.add_done_callback(self._worker_ended)
        if self.upkeep is not None:
            self._upkeep_task = asyncio.create_task(self.upkeep.run(self._stopping), name="upkeep")
        if self.webhook_sender is not None:
            sending = self.webhook_sender.run(self._stopping)
            self._sender_task = asyncio.create_task(sending, name="webhook-sender")
        if self.leases is not None:
            sampling = self.metrics.sample_queue(
                self.leases, self.metrics_sample_seconds, self._stopping, self.outbox
            )
            self._sampler_task = asyncio.create_task(sampling, name="queue-sampler")

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        """A worker loop that ends before we stop is a broken replica: health says so, to get it restarted."""
        if self._stopping.is_set() or self.grpc is None:
            return
        error = None if task.cancelled() else task.exception()
        log.error("worker loop ended unexpectedly", error=repr(error))
        self._health_task = asyncio.create_task(
            self.grpc.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        )

    async def stop(self, grace: float | None = None) -> None:
        self._stopping.set()
        if self.grpc is not None:
            await self.grpc.stop(grace)
        # A loop that failed was logged when it ended; stopping goes on.
        tasks = (
            self._worker_task,
            self._upkeep_task,
            self._sampler_task,
            self._readiness_task,
            self._sender_task,
        )
        await asyncio.gather(*(task for task in tasks if task is not None), return_exceptions=True)
        if self.status_streams is not None:
            await self.status_streams.aclose()
        if self.webhook_fetcher is not None:
            await self.webhook_fetcher.client.aclose()
        await self.hub.stop()
        for channel in self.channels:
            await channel.close()
        await self.pool.close()
        await self.engine.dispose()
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.shutdown)
            self._metrics_server.server_close()

    async def wait_until_signalled(self) -> None:
        if self.grpc is not None:
            await self.grpc.serve_until_signalled()
        else:
            await _signalled()


async def _signalled() -> None:
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()


def database_url(settings: JobServiceSettings) -> str:
    return settings.database_url or database.embedded_postgres_url(settings.data_dir)


def create_engine(settings: JobServiceSettings, url: str) -> AsyncEngine:
    return database.create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


def policy(settings: JobServiceSettings) -> Policy:
    return from_attributes(Policy, settings)


def learned_polls(settings: JobServiceSettings, engine: AsyncEngine) -> LearnedPolls | None:
    if not settings.poll_learning:
        return None
    schedule = PollSchedule(policy(settings), settings.poll_near_seconds, settings.poll_min_samples)
    times = GenerationTimeQueries(engine)
    return LearnedPolls(schedule, times.typical, times.record, settings.poll_refresh_seconds)


def provider_limits(settings: JobServiceSettings, engine: AsyncEngine) -> LimitQueries:
    limits = [
        ProviderLimit(
            provider, model, setting.max_in_flight, setting.submits_per_minute, setting.max_queue_seconds
        )
        for scope, setting in sorted(settings.limits.items())
        for provider, model in [parse_scope(scope)]
    ]
    return LimitQueries(engine, limits, settings.limit_window_seconds)


def create_sweeper(settings: JobServiceSettings, engine: AsyncEngine, storage: StorageClient) -> Sweeper:
    return Sweeper(MaintenanceQueries(engine), storage, grace=timedelta(seconds=settings.sweep_grace_seconds))


def create_retention(settings: JobServiceSettings, engine: AsyncEngine, storage: StorageClient) -> Retention:
    policy = RetentionPolicy(retention_days=settings.retention_days, purge_days=settings.purge_days)
    return Retention(RetentionQueries(engine), storage, policy)


def create_upkeep(
    settings: JobServiceSettings, engine: AsyncEngine, peers: Peers, metrics: JobMetrics
) -> Upkeep:
    options = from_attributes(UpkeepOptions, settings)
    sweeper = create_sweeper(settings, engine, peers.storage)
    retention = create_retention(settings, engine, peers.storage)
    thumbnails = create_backfill(settings, engine, peers.storage)
    return Upkeep(MaintenanceQueries(engine), sweeper, retention, options, metrics, thumbnails)


def create_backfill(
    settings: JobServiceSettings, engine: AsyncEngine, storage: StorageClient
) -> ThumbnailBackfill:
    return ThumbnailBackfill(ThumbnailQueries(engine), storage, max_attempts=settings.thumbnail_max_attempts)


def create_signed_urls(settings: JobServiceSettings, storage: StorageClient) -> SignedUrls:
    return SignedUrls(
        storage,
        ttl_seconds=settings.url_ttl_seconds,
        timeout_seconds=settings.sign_timeout_seconds,
        refresh_seconds=settings.url_refresh_seconds,
    )


def webhook_fetcher(settings: JobServiceSettings, resolver: Resolver = system_resolver) -> SafeFetcher:
    """Where webhooks may go: https to public addresses; in development also loopback (http too)."""
    policy = FetchPolicy(
        allow_local=settings.environment == "development",
        loopback_only=True,
        max_redirects=0,
        connect_timeout=min(5.0, settings.webhook_timeout_seconds),
        read_timeout=settings.webhook_timeout_seconds,
    )
    return SafeFetcher(policy, create_client(policy), resolver, field="url")


def webhook_sender_options(settings: JobServiceSettings) -> SenderOptions:
    disable_after = timedelta(days=settings.webhook_disable_after_days)
    return from_attributes(SenderOptions, settings, source_prefix="webhook_", disable_after=disable_after)


def storage_channel(settings: JobServiceSettings) -> grpc.aio.Channel:
    """The channel to storage_service (it carries inline videos: UploadVideo)."""
    return internal_channel(
        settings.storage_target,
        settings.internal_token.get_secret_value(),
        max_message_bytes=GRPC_MAX_MESSAGE_BYTES,
    )


def create_server(
    settings: JobServiceSettings,
    engine: AsyncEngine,
    *,
    serve_grpc: bool = True,
    run_worker: bool | None = None,
) -> JobService:
    """Build (not start) job_service on an already migrated database."""
    token = settings.internal_token.get_secret_value()
    # Both carry inline videos (GenerationStatus.inline_video in, UploadVideo out).
    provider_channel = internal_channel(
        settings.provider_target, token, max_message_bytes=GRPC_MAX_MESSAGE_BYTES
    )
    storage = storage_channel(settings)
    metrics = JobMetrics()
    peers = Peers(
        providers=ProviderClient(provider_channel, settings.rpc_timeout_seconds, metrics),
        storage=StorageClient(storage, settings.rpc_timeout_seconds, settings.finalize_rpc_timeout_seconds),
    )
    pool = database.create_driver_pool(
        database.libpq_url(engine.url),
        max_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    queries = JobQueries(engine, pool)
    keys = ApiKeyQueries(engine)
    limit_queries = provider_limits(settings, engine)
    hub = EventHub(database.libpq_url(engine.url), queries)
    box = SecretBox.from_setting(settings.webhook_secret_keys.get_secret_value())
    fetcher = webhook_fetcher(settings)
    outbox = OutboxQueries(engine)
    webhooks = Webhooks(
        WebhookQueries(engine), box, fetcher, secret_overlap_seconds=settings.webhook_secret_overlap_seconds
    )
    jobs = Jobs(
        queries,
        keys,
        peers,
        hub,
        limits=Limits(daily_limit=settings.daily_limit, max_active=settings.max_active),
        default_providers=settings.default_providers,
        urls=create_signed_urls(settings, peers.storage),
        active_limit_retry_seconds=settings.active_limit_retry_seconds,
        metrics=metrics,
        dedupe_window_seconds=settings.dedupe_window_seconds,
        image_buckets=settings.image_buckets,
        webhooks=webhooks,
        provider_limits=limit_queries,
    )
    hub.decorate = jobs.event_with_urls
    worker = upkeep = leases = sender = streams = None
    if settings.worker_enabled if run_worker is None else run_worker:
        options = WorkerOptions(
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.lease_seconds,
            idle_poll_seconds=settings.idle_poll_seconds,
        )
        leases = LeaseQueries(engine, metrics, limit_queries)
        streams = StatusStreams(
            peers.providers,
            leases,
            hub.work_available.set,
            StreamOptions(settings.status_streams, settings.status_stream_max_wait_seconds),
            metrics,
        )
        orchestrator = Orchestrator(leases, peers, policy(settings), learned_polls(settings, engine), streams)
        worker = Worker(leases, orchestrator, hub, options)
        upkeep = create_upkeep(settings, engine, peers, metrics)
        sending = webhook_sender_options(settings)
        sender = WebhookSender(outbox, fetcher, box, jobs.with_urls, sending, metrics)
    channels = (provider_channel, storage)
    service = JobService(
        engine=engine,
        pool=pool,
        jobs=jobs,
        peers=peers,
        hub=hub,
        worker=worker,
        channels=channels,
        upkeep=upkeep,
        metrics=metrics,
        metrics_address=None
        if settings.metrics_port is None
        else (settings.metrics_host, settings.metrics_port),
        leases=leases,
        metrics_sample_seconds=settings.metrics_sample_seconds,
        webhooks=webhooks,
        webhook_sender=sender,
        outbox=outbox,
        webhook_fetcher=fetcher,
        status_streams=streams,
    )
    if serve_grpc:
        servicer = JobServicer(jobs, webhooks, AdminJobs(jobs, queries, keys, limit_queries))
        service.grpc = create_grpc_server(
            settings,
            address=settings.address,
            register=lambda s: job_service_pb2_grpc.add_JobServiceServicer_to_server(servicer, s),
            service_names=[SERVICE_NAME],
        )
        service.readiness = DatabaseReadiness(
            database.libpq_url(engine.url),
            service.grpc.health,
            SERVICE_NAME,
            from_attributes(ProbeOptions, settings, source_prefix="ready_probe_"),
        )
    elif worker is not None and settings.worker_health_port is not None:
        # Health only, for container probes: a worker-only replica has no API of its own.
        service.grpc = create_grpc_server(
            settings,
            address=f"{settings.job_host}:{settings.worker_health_port}",
            register=lambda _server: None,
            service_names=[],
        )
    return service


async def prepare_database(settings: JobServiceSettings) -> str:
    """The database URL, once the schema is current: migrated here, or (VIDEOJOBS_MIGRATE_ON_START=false)
    by someone else, e.g. a migration job, which we wait for. An unreachable server is waited for too."""
    url = await asyncio.to_thread(database_url, settings)
    if settings.migrate_on_start:
        await wait_for(
            "postgres",
            lambda: database.migrate(url),
            retry_on=(OperationalError,),
            within=settings.startup_timeout_seconds,
        )
    else:
        await wait_for(
            "the current database schema",
            lambda: database.check_current(url),
            retry_on=(OperationalError, database.SchemaNotCurrent),
            within=settings.startup_timeout_seconds,
        )
    return url


@asynccontextmanager
async def running(settings: JobServiceSettings, *, serve_grpc: bool = True) -> AsyncIterator[JobService]:
    """The service, started on a migrated database, stopped gracefully on exit."""
    url = await prepare_database(settings)
    service = create_server(settings, create_engine(settings, url), serve_grpc=serve_grpc)
    await service.start()
    log.info(
        "job_service started",
        port=service.grpc.port if service.grpc else None,
        worker=service.worker is not None,
        embedded_db=settings.database_url is None,
    )
    try:
        yield service
    finally:
        await service.stop()


async def serve(settings: JobServiceSettings, *, serve_grpc: bool = True) -> None:
    async with running(settings, serve_grpc=serve_grpc) as service:
        await service.wait_until_signalled()


def main(settings: JobServiceSettings | None = None) -> None:
    """`videojobs serve job`: the gRPC API and (unless VIDEOJOBS_WORKER_ENABLED=false) the worker loop."""
    settings = settings or JobServiceSettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


def worker_main(settings: JobServiceSettings | None = None) -> None:
    """`videojobs serve worker`: the worker loop alone, for scaling steps apart from the API."""
    settings = settings or JobServiceSettings(worker_enabled=True)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, serve_grpc=False))
