"""How `videojobs admin` calls job_service over gRPC: as an admin (the internal token, `x-user-id-bin` naming
the operator, `x-user-role: admin`), with a deadline on every call, and a failed call told on stderr (its
code, message and field violations) with exit status 1. Settings come from the environment, like the
services'."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
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


def call_once(method: Callable[[JobServiceCalls], Callable[..., Any]], request: Any) -> Any:
    """One admin call and its reply; `method(calls)` picks the stub's method. A failed call ends the
    command (run_rpc)."""

    async def once() -> Any:
        async with job_service() as call:
            return await call(method(call), request)

    return run_rpc(once())


def list_pages(
    method: Callable[[JobServiceCalls], Callable[..., Any]],
    request: Any,
    items: Callable[[Any], Sequence[_T]],
    *,
    label: str,
    every_page: bool,
) -> tuple[list[_T], str]:
    """A paged admin list: the first page, or with `every_page` all of them (a progress bar on a terminal);
    the items and the next page token ("" at the end). `method(calls)` picks the stub's method."""
    from videojobs_cli.admin import progress

    async def pages() -> tuple[list[_T], str]:
        found: list[_T] = []
        async with job_service() as call:
            with progress(label, None) as advance:
                while True:
                    page = await call(method(call), request)
                    found.extend(items(page))
                    advance(len(items(page)))
                    if not every_page or not page.next_page_token:
                        return found, page.next_page_token
                    request.page_token = page.next_page_token

    return run_rpc(pages())


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
