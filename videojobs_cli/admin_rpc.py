"""How `videojobs admin` calls job_service over gRPC: as an admin (the internal token, `x-user-id-bin` naming
the operator, `x-user-role: admin`), with a deadline on every call, and a failed call told on stderr (its
code, message and field violations) with exit status 1. Settings come from the environment, like the
services'."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import Field

from videojobs.settings import CommonSettings

if TYPE_CHECKING:
    from videojobs.v1.job_service_pb2_grpc import JobServiceAsyncStub

_T = TypeVar("_T")


class AdminSettings(CommonSettings):
    # The same variable the gateway reads to find job_service.
    job_target: str = Field(default="127.0.0.1:50051", description="job_service's gRPC address.")
    admin_user: str = Field(
        default="operator", min_length=1, description="Who the admin commands act as (x-user-id, in logs)."
    )
    admin_rpc_timeout_seconds: float = Field(default=30.0, gt=0, description="Deadline of each call.")


@dataclass(frozen=True)
class JobServiceCalls:
    stub: JobServiceAsyncStub
    metadata: tuple[tuple[str, str | bytes], ...]
    timeout: float

    async def __call__(self, method: Callable[..., Any], request: Any) -> Any:
        """One call of `method` (a bound method of `stub`) as an admin, with its deadline."""
        return await method(request, metadata=self.metadata, timeout=self.timeout)


@asynccontextmanager
async def job_service() -> AsyncIterator[JobServiceCalls]:
    from videojobs import identity
    from videojobs.clients import internal_channel
    from videojobs.v1 import job_service_pb2_grpc

    settings = AdminSettings()
    channel = internal_channel(settings.job_target, settings.internal_token.get_secret_value())
    try:
        yield JobServiceCalls(
            job_service_pb2_grpc.JobServiceStub(channel),
            (identity.metadata(settings.admin_user), ("x-user-role", "admin")),
            settings.admin_rpc_timeout_seconds,
        )
    finally:
        await channel.close()


def run_rpc(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's calls; a failed call ends the command with its status on stderr and exit status 1."""
    import asyncio

    import grpc
    from google.rpc import error_details_pb2

    from videojobs import rpc_status

    try:
        return asyncio.run(coroutine)
    except grpc.aio.AioRpcError as error:
        lines = [f"{error.code().name}: {error.details()}"]
        bad = rpc_status.detail_of(rpc_status.status_of(error), error_details_pb2.BadRequest)
        lines += [f"  {v.field}: {v.description}" for v in (bad.field_violations if bad else [])]
        click.echo("Error: " + "\n".join(lines), err=True)
        raise SystemExit(1) from None
