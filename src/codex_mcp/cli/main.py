"""Command line: ``codex-mcp`` serves MCP on stdio. Logs go to stderr; stdout is the protocol."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
from pydantic import ValidationError

from .. import __version__
from ..config import Settings
from ..mcp.server import create_server, serve_stdio
from ..terminal.jobs import bind_children_to_this_process

log = logging.getLogger("codex_mcp")


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # In a subcommand the defaults are suppressed, so options given before the subcommand are kept.
    default: object = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--codex-bin",
        default=default,
        help="Codex executable (default: $CODEX_MCP_CODEX_BIN, else `codex` on PATH)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default,
        help="server state (default: $CODEX_MCP_STATE_DIR, else the user state dir)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=default,
        help="cap on live Codex sessions; the least recently used idle one is reclaimed (default 8)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        dest="idle_timeout_s",
        default=default,
        help="end sessions idle this many seconds (default 1800)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        dest="default_timeout_s",
        default=default,
        help="default tool timeout in seconds (default 50)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if suppress else 0,
        help="more logging on stderr (-vv for debug)",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: `codex-mcp [serve]`, `codex-mcp doctor`, `codex-mcp demo`."""
    parser = argparse.ArgumentParser(
        prog="codex-mcp",
        description="MCP stdio server for live, multi-turn conversations with the OpenAI Codex CLI.",
    )
    _add_common(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"codex-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,doctor,demo,ls,attach,prune}")
    serve_cmd = commands.add_parser("serve", help="serve MCP on stdio (the default)")
    _add_common(serve_cmd, suppress=True)
    doctor_cmd = commands.add_parser(
        "doctor", help="check Codex, its login, PTYs and the state dir; exit code 0 when healthy"
    )
    _add_common(doctor_cmd, suppress=True)
    doctor_cmd.add_argument(
        "--e2e",
        action="store_true",
        help="also open a real Codex session with your configuration (no prompt sent) and report a screen that "
        "stops it, then run a short conversation on the built-in fake model",
    )
    demo_cmd = commands.add_parser(
        "demo", help="run a short conversation through the server's own tools and print what happens"
    )
    _add_common(demo_cmd, suppress=True)
    demo_cmd.add_argument(
        "--fake-model",
        action="store_true",
        help="use a built-in fake model on 127.0.0.1 (no account, no network) instead of your Codex setup",
    )
    demo_cmd.add_argument("--cwd", default=None, help="folder Codex works in (default: a new empty temp folder)")
    ls_cmd = commands.add_parser("ls", help="list the live Codex sessions of running servers (same state dir)")
    _add_common(ls_cmd, suppress=True)
    attach_cmd = commands.add_parser(
        "attach", help="attach this terminal to a live Codex session: watch it, or take the keyboard (Ctrl-] detaches)"
    )
    _add_common(attach_cmd, suppress=True)
    attach_cmd.add_argument("conversation_id", help="the conversationId (see `codex-mcp ls`)")
    attach_cmd.add_argument("--watch", action="store_true", help="watch only: keys are not sent to Codex")
    attach_cmd.add_argument("--socket", type=Path, default=None, help="a server's control socket (default: found)")
    prune_cmd = commands.add_parser(
        "prune",
        help="remove the records of conversations with no activity for DAYS (never a live one; Codex's rollouts stay)",
    )
    _add_common(prune_cmd, suppress=True)
    prune_cmd.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="no activity for this many days"
    )
    prune_cmd.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    return parser.parse_args(argv)


def catch_stop_signals(
    loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None], *, windows: bool = sys.platform == "win32"
) -> Callable[[], None]:
    """Call on_signal(signum) on the loop when the server is asked to stop; returns what undoes it.

    POSIX: SIGTERM, SIGINT and SIGHUP (the terminal or the client went away), through the loop's own handlers.
    Windows: the Proactor loop has no add_signal_handler, so plain handlers hand over to the loop: Ctrl+C is
    SIGINT and Ctrl+Break SIGBREAK (CPython's console control handler), SIGTERM only if raised in-process.
    A server killed outright (Task Manager, TerminateProcess) runs no handler at all; what ends its Codex
    processes then is the system, not us."""
    if not windows:
        return _loop_signals(loop, on_signal)

    def handler(signum: int, _frame: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(on_signal, signum)

    stops = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])
    before = {signum: signal.signal(signum, handler) for signum in stops}

    def undo() -> None:
        for signum, previous in before.items():
            signal.signal(signum, previous)

    return undo


def _loop_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> Callable[[], None]:
    if sys.platform == "win32":
        raise NotImplementedError("the Proactor loop has no signal handlers; see catch_stop_signals")
    hangups = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for signum in hangups:
        loop.add_signal_handler(signum, on_signal, signum)

    def undo() -> None:
        for signum in hangups:
            loop.remove_signal_handler(signum)

    return undo


async def serve(settings: Settings) -> None:
    """Serve MCP on stdio until stdin closes or a stop signal arrives (SIGTERM/SIGINT/SIGHUP; Ctrl+C/Ctrl+Break on
    Windows); either way every Codex session is ended by the lifespan before we return."""
    bind_children_to_this_process()  # Windows: every Codex dies with us, even if we are killed outright
    signalled: list[int] = []

    def on_closed() -> None:
        if signalled:
            # Every Codex session is ended. What is left is the SDK's stdin reader, a thread blocked in
            # read() that no cancellation reaches while the client keeps the pipe open: leave now.
            log.info("all Codex sessions ended; exiting")
            logging.shutdown()
            os._exit(0)

    server = create_server(settings, on_closed)
    loop = asyncio.get_running_loop()
    with anyio.CancelScope() as scope:

        def on_signal(signum: int) -> None:
            # Stays installed through the clean-up: clients send SIGINT then SIGTERM within 0.1 s, and the
            # default action of the second would kill us before Codex is ended.
            if not signalled:
                signalled.append(signum)
                log.info("received %s, shutting down", signal.Signals(signum).name)
                scope.cancel()

        undo = catch_stop_signals(loop, on_signal)
        try:
            await serve_stdio(server)
        finally:
            undo()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``codex-mcp`` console script."""
    args = parse_args(argv)
    command = args.command or "serve"
    default_level = logging.WARNING if command == "serve" else logging.ERROR
    level = default_level - 10 * min(args.verbose, 2)  # -v one step more, -vv two
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        # Its own level: a client may ask for more of codex_mcp's log (clientlog.py) than stderr shows.
        handler.setLevel(level)
    try:
        settings = Settings.from_env(
            codex_bin=args.codex_bin,
            state_dir=args.state_dir,
            max_sessions=args.max_sessions,
            default_timeout_s=args.default_timeout_s,
            idle_timeout_s=args.idle_timeout_s,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        sys.exit(f"codex-mcp: invalid setting ({problems})")
    if command == "doctor":
        from .doctor import doctor

        sys.exit(doctor(settings, e2e=args.e2e))
    if command == "demo":
        sys.exit(0 if run_demo_command(settings, fake_model=args.fake_model, cwd=args.cwd) else 1)
    if command == "ls":
        from ..control.attach import ls

        sys.exit(ls(settings.state_dir))
    if command == "prune":
        from .prune import prune

        sys.exit(prune(settings, args.older_than, dry_run=args.dry_run))
    if command == "attach":
        from ..control.attach import attach

        sys.exit(attach(settings.state_dir, args.conversation_id, watch=args.watch, socket_path=args.socket))
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, settings)


def run_demo_command(settings: Settings, *, fake_model: bool, cwd: str | None) -> bool:
    """`codex-mcp demo`: in a throwaway folder unless one is given."""
    import tempfile

    from .demo import fake_codex_home, run_demo

    with contextlib.ExitStack() as stack:
        folder = cwd or stack.enter_context(tempfile.TemporaryDirectory(prefix="codex-mcp-demo-work-"))
        if fake_model:
            stack.enter_context(fake_codex_home())
        try:
            return anyio.run(lambda: run_demo(settings, fake_model=fake_model, cwd=folder))
        except Exception as exc:  # show what went wrong as a person would want to read it
            print(f"Demo failed: {'; '.join(_messages(exc))}", file=sys.stderr)
            return False


def _messages(exc: BaseException) -> list[str]:
    """The leaf messages of an exception (task groups wrap what actually went wrong)."""
    if isinstance(exc, BaseExceptionGroup):
        return [m for inner in exc.exceptions for m in _messages(inner)]
    return [str(exc) or type(exc).__name__]
