"""Command line: ``codex-mcp`` serves MCP on stdio. Logs go to stderr; stdout is the protocol."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import anyio
from pydantic import ValidationError

from . import __version__
from .config import Settings
from .server import create_server

log = logging.getLogger("codex_mcp")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="codex-mcp",
        description="MCP stdio server for live, multi-turn conversations with the OpenAI Codex CLI.",
    )
    parser.add_argument("--codex-bin", help="Codex executable (default: $CODEX_MCP_CODEX_BIN, else `codex` on PATH)")
    parser.add_argument(
        "--state-dir", type=Path, help="server state (default: $CODEX_MCP_STATE_DIR, else the user state dir)"
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        help="cap on live Codex sessions; the least recently used idle one is reclaimed (default 8)",
    )
    parser.add_argument(
        "--idle-timeout", type=float, dest="idle_timeout_s", help="end sessions idle this many seconds (default 1800)"
    )
    parser.add_argument(
        "--timeout", type=float, dest="default_timeout_s", help="default tool timeout in seconds (default 50)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"codex-mcp {__version__}")
    return parser.parse_args(argv)


async def serve(settings: Settings) -> None:
    """Serve MCP on stdio until stdin closes or SIGTERM/SIGINT/SIGHUP arrives; either way every Codex session
    is ended by the lifespan before we return."""
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
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    with anyio.CancelScope() as scope:

        def on_signal(signum: int) -> None:
            # Stays installed through the clean-up: clients send SIGINT then SIGTERM within 0.1 s, and the
            # default action of the second would kill us before Codex is ended.
            if not signalled:
                signalled.append(signum)
                log.info("received %s, shutting down", signal.Signals(signum).name)
                scope.cancel()

        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await server.run_stdio_async()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``codex-mcp`` console script."""
    args = parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)  # -v info, -vv debug
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, settings)
