"""A bounded pipe from an https download (on the event loop) to a resumable upload (on a GCS thread).

The upload side is `blob.upload_from_file(pipe)`: the client reads one chunk at a time and sends it, so the
only chunk-sized copies alive are the chunk being sent and at most `limit` bytes downloaded ahead of it.
(A `blob.open("wb")` writer on top of our own block buffer holds about twice that: its buffer, the chunk
read out of it, and our block.)
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import deque


class UploadAbandoned(Exception):
    """Raised to the upload thread when the download failed: no final chunk is sent, so no object appears."""


class Pipe:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._abandoned = False
        self._changed = threading.Condition()
        self._room = asyncio.Event()
        self._position = 0
        # The last chunk handed out: a resumable upload seeks back into it when GCS kept only part of it.
        self._last = b""
        self._last_start = 0

    # Download side (event loop).

    async def put(self, piece: bytes) -> None:
        """Queue `piece`, first waiting while `limit` bytes are already waiting for the upload."""
        while self._buffered >= self._limit and not self._abandoned:
            # The reader sets the event through the loop, so it cannot fire between this clear and the wait.
            self._room.clear()
            await self._room.wait()
        with self._changed:
            self._pieces.append(piece)
            self._buffered += len(piece)
            self._changed.notify()

    def head(self, size: int) -> bytes:
        """The first bytes queued (for sniffing the content type before the upload starts)."""
        return b"".join(list(self._pieces)[:size])[:size]

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify()

    def abandon(self) -> None:
        """The download failed: the reader's next read raises, and queued bytes are dropped."""
        with self._changed:
            self._abandoned = True
            self._pieces.clear()
            self._buffered = 0
            self._changed.notify()
        self._room.set()

    # Upload side (a GCS thread): the file-like object the storage client reads chunks from.

    def read(self, size: int = -1) -> bytes:
        with self._changed:
            self._changed.wait_for(lambda: self._abandoned or self._ended or (0 <= size <= self._buffered))
            if self._abandoned:
                raise UploadAbandoned("the source download failed")
            wanted = self._buffered if size < 0 else min(size, self._buffered)
            taken: list[bytes] = []
            while wanted:
                piece = self._pieces.popleft()
                if len(piece) > wanted:
                    piece, rest = piece[:wanted], piece[wanted:]
                    self._pieces.appendleft(rest)
                taken.append(piece)
                wanted -= len(piece)
                self._buffered -= len(piece)
        self._loop.call_soon_threadsafe(self._room.set)
        chunk = b"".join(taken)
        self._last, self._last_start = chunk, self._position
        self._position += len(chunk)
        return chunk

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or not self._last_start <= position <= self._position:
            raise io.UnsupportedOperation("the pipe can only seek back into the last chunk read")
        if position < self._position:
            with self._changed:
                again = self._last[position - self._last_start :]
                self._pieces.appendleft(again)
                self._buffered += len(again)
            self._position = position
        return position
