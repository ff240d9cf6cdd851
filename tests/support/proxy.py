"""A TCP proxy on loopback between a client and a server that the test can cut (as a network drop would)
or freeze (as a server stopped with SIGSTOP would look: connections are accepted, nothing is answered)."""

from __future__ import annotations

import asyncio


class CuttableProxy:
    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", *, unix_path: str | None = None
    ) -> None:
        """To `target_host:target_port`, or to the Unix socket `unix_path` when given."""
        self.target_host = target_host
        self.target_port = target_port
        self.unix_path = unix_path
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.thaw()
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def cut(self) -> None:
        for writer in list(self.open):
            writer.transport.abort()  # a reset, not a clean end of the response

    def freeze(self) -> None:
        """Hold every byte, both ways, until thaw()."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            if self.unix_path is not None:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.unix_path)
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
        except OSError:
            client_writer.transport.abort()
            return
        self.open |= {client_writer, upstream_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    await self._flowing.wait()
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        self.open -= {client_writer, upstream_writer}
