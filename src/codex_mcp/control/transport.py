"""How the control channel is carried, and who may use it: the only module that knows sockets and pipes.

Each server process has one endpoint in the state dir's owner-only ``control/`` folder, named by its pid:

- POSIX: ``<pid>.sock``, a Unix domain socket (the folder 0700, the socket 0600), and the peer's uid checked on
  every connection (SO_PEERCRED) where the system tells it.
- Windows (no Unix sockets in asyncio there): ``<pid>.pipe``, a small JSON file naming a named pipe
  (``\\\\.\\pipe\\codex-mcp-<pid>-<random>``) and a secret, both random per start. The file lives in the user's own
  folder (the state dir under %LOCALAPPDATA%, whose ACL gives the user alone, SYSTEM and administrators access),
  so only the user can learn the secret; a client's first line must carry it, checked in constant time, before
  the server reads a request. The random name also means no other user can create the pipe first and pose as the
  server. A pipe's default DACL lets others open it for reading, which gets them nothing without the secret.

The same secret check can be turned on over a Unix socket (``secret=True``): that is how the Windows half's logic
runs here for real; only ``loop.start_serving_pipe`` and ``loop.create_pipe_connection`` (asyncio's Proactor loop)
are Windows' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .protocol import frame

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

SOCKET_SUFFIX = ".sock"
PIPE_SUFFIX = ".pipe"
_SECRET_TIMEOUT_S = 5.0
"""How long a client has to send its secret line."""


def control_dir(state_dir: Path) -> Path:
    """Where the servers' endpoints live."""
    return state_dir / "control"


@dataclass(frozen=True)
class Endpoint:
    """One server's way in: its socket, or (Windows) the file that names its pipe and holds its secret."""

    path: Path

    @property
    def pid(self) -> int | None:
        """The server process it belongs to, from its name."""
        return int(self.path.stem) if self.path.stem.isdigit() else None


def endpoints(state_dir: Path) -> list[Endpoint]:
    """The endpoints of the servers sharing this state dir (some may belong to servers that are gone)."""
    folder = control_dir(state_dir)
    found = [*folder.glob(f"*{SOCKET_SUFFIX}"), *folder.glob(f"*{PIPE_SUFFIX}")]
    return [Endpoint(path) for path in sorted(found) if path.stem.isdigit()]


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux SO_PEERCRED), if the OS tells."""
    if not hasattr(socket, "SO_PEERCRED"):  # pragma: no cover - the 0700 directory still guards it
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _same_user(writer: asyncio.StreamWriter) -> bool:
    if sys.platform == "win32":
        return True  # no uid there: the secret stands for it
    sock = writer.get_extra_info("socket")
    uid = peer_uid(sock) if sock is not None else None
    if uid is not None and uid != os.getuid():
        log.warning("refused a control connection from uid %d", uid)
        return False
    return True


def _refuse(writer: asyncio.StreamWriter, why: str) -> None:
    writer.write(frame({"ok": False, "error": why}))


def _hidden_socket(folder: Path, pid: int) -> Path:
    """The socket behind a secret-checked endpoint on POSIX (the endpoint file names it)."""
    return folder / f".{pid}.secret"


def _write_private(path: Path, text: str) -> None:
    """A file only the user can read: created 0600 (POSIX); on Windows the folder's ACL decides."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class Listener:
    """A server's endpoint, serving each connection with the handler once it has passed the checks."""

    def __init__(self, folder: Path, handler: Handler, limit: int, *, secret: bool, pipe: bool) -> None:
        self.folder = folder
        self._handler = handler
        self._limit = limit
        self._pipe = pipe
        self._secret = secrets.token_hex(32) if secret or pipe else None
        self.path = folder / f"{os.getpid()}{PIPE_SUFFIX if secret or pipe else SOCKET_SUFFIX}"
        self._closers: list[Callable[[], None]] = []
        self._waiters: list[Callable[[], Awaitable[None]]] = []

    @property
    def endpoint(self) -> Endpoint:
        """Where clients reach it."""
        return Endpoint(self.path)

    def _prepare(self) -> None:
        """The owner-only folder, without the endpoints of servers that are gone."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        for stale in endpoints(self.folder.parent):
            pid = stale.pid
            if pid is not None and pid != os.getpid() and not psutil.pid_exists(pid):
                with contextlib.suppress(OSError):
                    stale.path.unlink()
                with contextlib.suppress(OSError):
                    _hidden_socket(self.folder, pid).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def start(self) -> None:
        """Listen."""
        self._prepare()
        if self._pipe:
            await self._start_pipe()
            return
        if sys.platform == "win32":
            raise OSError("on Windows the control channel is a named pipe")
        if self._secret is None:
            server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=self._limit)
            os.chmod(self.path, 0o600)
        else:  # the Windows logic over a socket: the endpoint file names it and holds the secret
            sock_path = _hidden_socket(self.folder, os.getpid())
            with contextlib.suppress(FileNotFoundError):
                sock_path.unlink()
            server = await asyncio.start_unix_server(self._serve, path=str(sock_path), limit=self._limit)
            os.chmod(sock_path, 0o600)
            _write_private(self.path, json.dumps({"socket": str(sock_path), "secret": self._secret}))
            self._closers.append(lambda: sock_path.unlink(missing_ok=True))
        self._closers.insert(0, server.close)
        self._waiters.append(server.wait_closed)

    async def _start_pipe(self) -> None:
        """Windows: a named pipe with a random name, and the file that tells the user's clients about it."""
        assert self._secret is not None
        name = rf"\\.\pipe\codex-mcp-{os.getpid()}-{secrets.token_hex(16)}"
        loop = asyncio.get_running_loop()
        start_serving_pipe = getattr(loop, "start_serving_pipe", None)  # the Proactor loop's (the default)
        if start_serving_pipe is None:
            raise OSError("this event loop cannot serve named pipes (asyncio's Proactor loop can)")
        servers = await start_serving_pipe(self._protocol, name)
        _write_private(self.path, json.dumps({"pipe": name, "secret": self._secret}))
        self._closers += [server.close for server in servers]

    def _protocol(self) -> asyncio.StreamReaderProtocol:
        """What asyncio.start_server makes per connection: a reader, and the handler called with its writer."""
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=self._limit), self._serve)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not _same_user(writer):
            _refuse(writer, "only the user running the server may connect")
            await _close(writer)
            return
        if self._secret is not None and not await self._secret_given(reader):
            log.warning("refused a control connection without the secret")
            _refuse(writer, "this control channel is the user's own: its secret did not match")
            await _close(writer)
            return
        await self._handler(reader, writer)

    async def _secret_given(self, reader: asyncio.StreamReader) -> bool:
        assert self._secret is not None
        try:
            async with asyncio.timeout(_SECRET_TIMEOUT_S):
                line = await reader.readline()
            given = json.loads(line).get("secret")
        except (TimeoutError, ValueError, AttributeError, ConnectionError):
            return False
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self._secret.encode())

    async def close(self) -> None:
        """Stop listening and take the endpoint away."""
        for closer in self._closers:
            with contextlib.suppress(Exception):
                closer()
        for wait in self._waiters:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(wait(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await writer.drain()
        writer.close()


async def listen(
    state_dir: Path, handler: Handler, *, limit: int, secret: bool | None = None, pipe: bool | None = None
) -> Listener:
    """This server's endpoint, listening: a named pipe on Windows, a Unix socket elsewhere (pipe: choose).
    secret: demand the endpoint file's secret over a Unix socket too (a pipe always demands it)."""
    on_windows = sys.platform == "win32"
    listener = Listener(
        control_dir(state_dir), handler, limit, secret=bool(secret), pipe=on_windows if pipe is None else pipe
    )
    await listener.start()
    return listener


async def connect(endpoint: Endpoint, *, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to a server's endpoint, its secret already sent when it has one (OSError if it is gone)."""
    if endpoint.path.suffix != PIPE_SUFFIX:
        return await _open_socket(str(endpoint.path), limit)
    try:
        where = json.loads(endpoint.path.read_text(encoding="utf-8"))
        secret = str(where["secret"])
    except (ValueError, KeyError, TypeError) as exc:
        raise OSError(f"{endpoint.path} is not a codex-mcp endpoint file") from exc
    if "pipe" in where:
        reader, writer = await _open_pipe(str(where["pipe"]), limit)
    else:
        reader, writer = await _open_socket(str(where["socket"]), limit)
    writer.write((json.dumps({"secret": secret}) + "\n").encode())
    return reader, writer


async def _open_socket(path: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if sys.platform == "win32":
        raise OSError(f"{path}: a Unix socket endpoint, and this is Windows (its servers listen on named pipes)")
    return await asyncio.open_unix_connection(path, limit=limit)


async def _open_pipe(name: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Windows: a client end of the named pipe, as streams (what asyncio.open_connection does for TCP)."""
    loop = asyncio.get_running_loop()
    create_pipe_connection = getattr(loop, "create_pipe_connection", None)  # the Proactor loop's
    if create_pipe_connection is None:
        raise OSError("this event loop cannot open named pipes (asyncio's Proactor loop can)")
    reader = asyncio.StreamReader(limit=limit)
    transport, protocol = await create_pipe_connection(lambda: asyncio.StreamReaderProtocol(reader), name)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
