"""MCP over stdio on the event loop itself: the SDK's transport reads each request line and writes each message (a
write, then a flush) in worker threads, three round trips to another thread per tool call (~1 ms of CPU on a small
machine, a third of what a turn costs the server). This transport reads and writes the pipes with asyncio. Where
stdin or stdout is not a pipe (a file, a console on Windows), the SDK's own transport is used.

Like the SDK's, it takes fds 0 and 1 for the protocol while it serves: fd 0 reads the null device and fd 1 goes to
stderr, so that stray output (a library's print, a child that inherits them) never reaches the wire."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator

_LINE_LIMIT = 256 * 1024 * 1024
"""The longest request line read (a prompt with a long text, or many of them): past it the server stops."""


class _Lines:
    """The client's messages, one text line each (what the SDK's stdio_server iterates)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class _Out:
    """Where the SDK's stdio_server writes messages: the transport buffers; flush waits while it is full."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextlib.asynccontextmanager
async def loop_stdio() -> AsyncIterator[tuple[_Lines, _Out] | None]:
    """(stdin lines, stdout) on the event loop, with fds 0 and 1 taken for the protocol; None where stdin or stdout
    is not a pipe (then the SDK's transport serves)."""
    if sys.platform == "win32" or not (_is_pipe(0) and _is_pipe(1)):
        yield None
        return
    loop = asyncio.get_running_loop()
    in_fd, out_fd = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    stdin = os.fdopen(in_fd, "rb", buffering=0)
    stdout = os.fdopen(out_fd, "wb", buffering=0)
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    write_transport, write_protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    try:
        yield _Lines(reader), _Out(writer)
    finally:
        read_transport.close()
        with contextlib.suppress(OSError, RuntimeError):
            await writer.drain()
        write_transport.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
