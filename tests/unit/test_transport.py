"""The control channel's transport (control/transport.py): who may connect, and how a client finds and reaches a
server, run for real over Unix sockets; the Windows half (a named pipe and a secret only the user can read) runs
with the same code, its two Proactor-loop calls (``start_serving_pipe``, ``create_pipe_connection``) replaced by
Unix sockets, since they are the only part that is Windows' own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from codex_mcp.control import attach, transport
from codex_mcp.control.protocol import frame
from codex_mcp.control.server import ControlServer
from codex_mcp.conversations.manager import Manager

from ..platforms import WINDOWS

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(WINDOWS, reason="carries the pipe logic over Unix sockets, which asyncio serves on POSIX only"),
]

LIMIT = 1 << 20


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler that answers a request line with what it got."""
    line = await reader.readline()
    writer.write(frame({"ok": True, "got": json.loads(line)}))
    await writer.drain()
    writer.close()


async def ask(endpoint: transport.Endpoint, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await transport.connect(endpoint, limit=LIMIT)
    writer.write(frame(request))
    await writer.drain()
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), 10) or b"{}")
    writer.close()
    return answer


async def raw_exchange(path: Path, lines: list[bytes]) -> dict[str, Any]:
    """What the server answers a client that sends these lines itself (no secret handling of ours)."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    for line in lines:
        writer.write(line)
    await writer.drain()
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), 10) or b"{}")
    writer.close()
    return answer


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def pipes(tmp_path: Path) -> AsyncIterator[dict[str, Path]]:
    """Named pipes, as the Proactor loop serves and opens them, carried here by Unix sockets (one per name)."""
    loop = asyncio.get_running_loop()
    made: dict[str, Path] = {}

    async def start_serving_pipe(factory: Any, name: str) -> list[Any]:
        assert name.startswith("\\\\.\\pipe\\codex-mcp-")
        made[name] = tmp_path / f"pipe{len(made)}"
        return [await loop.create_unix_server(factory, path=str(made[name]))]

    async def create_pipe_connection(factory: Any, name: str) -> tuple[Any, Any]:
        if name not in made:
            raise FileNotFoundError(2, "The system cannot find the file specified", name)  # ERROR_FILE_NOT_FOUND
        return await loop.create_unix_connection(factory, path=str(made[name]))

    setattr(loop, "start_serving_pipe", start_serving_pipe)  # noqa: B010
    setattr(loop, "create_pipe_connection", create_pipe_connection)  # noqa: B010
    yield made
    delattr(loop, "start_serving_pipe")
    delattr(loop, "create_pipe_connection")


async def test_a_unix_socket_endpoint_is_the_users_own_and_answers(tmp_path: Path) -> None:
    listener = await transport.listen(tmp_path, echo, limit=LIMIT, pipe=False)
    try:
        assert listener.path == tmp_path / "control" / f"{os.getpid()}.sock"
        assert mode_of(tmp_path / "control") == 0o700
        assert mode_of(listener.path) == 0o600
        assert transport.endpoints(tmp_path) == [listener.endpoint]
        assert await ask(listener.endpoint, {"op": "list"}) == {"ok": True, "got": {"op": "list"}}
    finally:
        await listener.close()
    assert not listener.path.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
async def test_another_user_is_refused_by_uid() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="codex-mcp-uid-"))  # pytest's own folders are root's only
    listener = await transport.listen(state_dir, echo, limit=LIMIT, pipe=False)
    try:
        os.chmod(state_dir, 0o755)  # open the folders and the socket up: only the uid check is left to refuse
        os.chmod(listener.folder, 0o755)
        os.chmod(listener.path, 0o666)
        client = (
            "import os, socket, sys; os.setuid(65534); s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            " print(s.makefile().readline())"  # refused before it sends anything: nothing to write
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", client, str(listener.path), stdout=subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        answer = json.loads(out)
        assert answer == {"ok": False, "error": "only the user running the server may connect"}
    finally:
        await listener.close()
        shutil.rmtree(state_dir)


async def test_a_secret_endpoint_needs_the_secret_from_its_private_file(tmp_path: Path) -> None:
    listener = await transport.listen(tmp_path, echo, limit=LIMIT, secret=True, pipe=False)
    try:
        assert listener.path.suffix == ".pipe"
        assert mode_of(listener.path) == 0o600
        where = json.loads(listener.path.read_text())
        assert len(where["secret"]) == 64
        # Our client reads the secret and sends it first: it gets through.
        assert await ask(listener.endpoint, {"op": "list"}) == {"ok": True, "got": {"op": "list"}}
        behind = Path(where["socket"])
        refused = {"ok": False, "error": "this control channel is the user's own: its secret did not match"}
        # A client without the file: the request itself, a wrong secret, a secret that is not a string.
        assert await raw_exchange(behind, [b'{"op": "list"}\n']) == refused
        assert await raw_exchange(behind, [b'{"secret": "' + b"0" * 64 + b'"}\n', b'{"op": "list"}\n']) == refused
        assert await raw_exchange(behind, [b'{"secret": 7}\n']) == refused
        assert await raw_exchange(behind, [b"not json\n"]) == refused
    finally:
        await listener.close()
    assert not listener.path.exists()
    assert not behind.exists()


async def test_a_client_that_never_sends_its_secret_is_let_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_SECRET_TIMEOUT_S", 0.2)
    listener = await transport.listen(tmp_path, echo, limit=LIMIT, secret=True, pipe=False)
    try:
        behind = Path(json.loads(listener.path.read_text())["socket"])
        reader, writer = await asyncio.open_unix_connection(str(behind))
        answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
        assert answer["ok"] is False
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection is closed
        writer.close()
    finally:
        await listener.close()


async def test_the_windows_pipe_endpoint_names_a_random_pipe_and_checks_the_secret(
    tmp_path: Path, pipes: dict[str, Path]
) -> None:
    first = await transport.listen(tmp_path, echo, limit=LIMIT, pipe=True)
    try:
        where = json.loads(first.path.read_text())
        assert set(where) == {"pipe", "secret"}
        assert where["pipe"].startswith(f"\\\\.\\pipe\\codex-mcp-{os.getpid()}-")
        assert mode_of(first.path) == 0o600
        assert await ask(first.endpoint, {"op": "list"}) == {"ok": True, "got": {"op": "list"}}
        behind = pipes[where["pipe"]]
        assert (await raw_exchange(behind, [b'{"op": "list"}\n']))["ok"] is False
    finally:
        await first.close()
    assert not first.path.exists()
    second = await transport.listen(tmp_path, echo, limit=LIMIT, pipe=True)
    try:
        again = json.loads(second.path.read_text())
        assert again["pipe"] != where["pipe"]  # nobody can create the next one first
        assert again["secret"] != where["secret"]
    finally:
        await second.close()


async def test_a_pipe_that_is_gone_is_an_os_error(tmp_path: Path, pipes: dict[str, Path]) -> None:
    folder = transport.control_dir(tmp_path)
    folder.mkdir()
    gone = folder / "4242.pipe"
    gone.write_text(json.dumps({"pipe": "\\\\.\\pipe\\codex-mcp-4242-x", "secret": "s"}))
    with pytest.raises(FileNotFoundError):
        await transport.connect(transport.Endpoint(gone), limit=LIMIT)
    gone.write_text("{ not an endpoint")
    with pytest.raises(OSError, match="not a codex-mcp endpoint file"):
        await transport.connect(transport.Endpoint(gone), limit=LIMIT)


async def test_endpoints_of_servers_that_are_gone_are_cleared_at_start(tmp_path: Path) -> None:
    folder = transport.control_dir(tmp_path)
    folder.mkdir()
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    alive = os.getppid()
    for name in (f"{dead.pid}.sock", f"{dead.pid}.pipe", f".{dead.pid}.secret", f"{alive}.sock", "notes.txt"):
        (folder / name).touch()
    listener = await transport.listen(tmp_path, echo, limit=LIMIT, pipe=False)
    try:
        left = sorted(p.name for p in folder.iterdir())
        assert left == sorted([f"{alive}.sock", f"{os.getpid()}.sock", "notes.txt"])
    finally:
        await listener.close()


async def test_ls_finds_a_server_behind_a_secret_endpoint(tmp_path: Path) -> None:
    """What `codex-mcp ls` and attach do on Windows: find the endpoint file, send the secret, list."""
    conv = SimpleNamespace(
        id="019a0000-0000-7000-8000-000000000001",
        state=SimpleNamespace(value="idle"),
        options=SimpleNamespace(cwd="C:\\Users\\Zoë\\my project"),
        input_holder=None,
        viewer_modes=[],
    )
    store = SimpleNamespace(client="claude-code 2.1.332")
    manager = cast(
        Manager, SimpleNamespace(live_conversations=lambda: [conv], conversations=SimpleNamespace(store=store))
    )
    control = ControlServer(manager, tmp_path)
    await control.start(secret=True)
    try:
        [found] = await attach.list_live(tmp_path)
        assert found["conversationId"] == conv.id
        assert found["cwd"] == "C:\\Users\\Zoë\\my project"
        assert found["socket"] == str(control.path)
        assert (found["server_pid"], found["client"]) == (os.getpid(), "claude-code 2.1.332")
        assert control.path.suffix == ".pipe"
    finally:
        await control.close("done")
    assert await attach.list_live(tmp_path) == []
