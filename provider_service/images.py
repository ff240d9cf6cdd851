"""Input images for providers that take them as bytes (Veo): fetched under the shared SSRF rules,
size-capped, and typed by their content rather than by what the server claims."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from videojobs import errors
from videojobs.safe_fetch import SafeFetcher, read_capped

IMAGE_FIELD = "spec.image_uri"


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    mime_type: str


def sniff_image_type(head: bytes) -> str | None:
    """JPEG or PNG by their signatures (the two types Veo accepts), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


class ImageFetcher:
    def __init__(self, fetcher: SafeFetcher, *, max_bytes: int, timeout: float) -> None:
        self.fetcher = fetcher
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def fetch(self, url: str) -> bytes:
        """The image's bytes, read within `timeout` and `max_bytes`. Refusals are the fetcher's errors; a
        missing image is FAILED_PRECONDITION (NOT_FOUND would read as "no such generation")."""
        try:
            async with asyncio.timeout(self.timeout), self.fetcher.open(url, {}) as response:
                return await read_capped(response, self.max_bytes)
        except TimeoutError as exc:
            raise errors.Unavailable(
                f"{IMAGE_FIELD} was not fetched within {self.timeout:g} s",
                reason="SOURCE_TOO_SLOW",
                retry_after=5.0,
            ) from exc
        except errors.NotFound as exc:
            raise errors.FailedPrecondition(
                f"{IMAGE_FIELD} could not be fetched: {exc.message}", reason=exc.reason
            ) from exc

    async def aclose(self) -> None:
        await self.fetcher.client.aclose()
