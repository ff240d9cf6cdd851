"""The `videojobs` command: run services, mint API keys, migrate, and start the local stack."""

from __future__ import annotations

import asyncio
import importlib
import os
import warnings

import click

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


@main.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
def serve(service: str) -> None:
    """Run one service in the foreground (configured by environment variables; see the README)."""
    module, _, function = SERVICES[service].partition(":")
    getattr(importlib.import_module(module), function or "main")()


@main.command()
def migrate() -> None:
    """Apply database migrations (services also do this at start-up)."""
    from job_service import database
    from job_service.server import database_url
    from job_service.settings import JobServiceSettings

    url = database_url(JobServiceSettings())
    database.migrate(url)
    click.echo("database is at the newest revision")


@main.group()
def keys() -> None:
    """Manage API keys for the HTTP gateway."""


@keys.command("create")
@click.option("--user", "user_id", required=True, help="The user the key acts for.")
@click.option("--admin", is_flag=True, help="Allow admin routes (quota reset).")
def create_key(user_id: str, admin: bool) -> None:
    """Mint a key. It is printed once and stored only as a hash."""
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
    from videojobs_cli import devstack

    ports = devstack.Ports.any_free() if any_ports else devstack.Ports()
    raise SystemExit(asyncio.run(devstack.run(ports=ports, exit_after_demo=exit_after_demo)))
