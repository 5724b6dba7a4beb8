"""``codex-mcp demo``: a short conversation through the server's own MCP tools, printed as it happens, so a
fresh install can be seen working in one command. With ``--fake-model`` it runs on a built-in loopback fake
model (no account, no network); otherwise on the user's Codex as configured."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from ..config import Settings
from ..mcp.server import create_server
from .fakemodel import FakeModel, codex_config_toml

Print = Callable[[str], None]

CODE_WORD = "PAPAYA-7"


@contextmanager
def fake_codex_home() -> Iterator[Path]:
    """A temporary CODEX_HOME whose config points Codex at a fake model on 127.0.0.1 (set in os.environ
    for the duration: Codex gets the environment of the server that starts it)."""
    saved = {k: os.environ.get(k) for k in ("CODEX_HOME", "CODEX_MCP_FAKE_KEY")}
    with tempfile.TemporaryDirectory(prefix="codex-mcp-demo-") as tmp, FakeModel() as fake:
        home = Path(tmp)
        (home / "config.toml").write_text(codex_config_toml(fake.base_url))
        os.environ["CODEX_HOME"] = str(home)
        os.environ["CODEX_MCP_FAKE_KEY"] = "demo"
        try:
            yield home
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


async def _call(client: Client, tool: str, say: Print, **arguments: Any) -> dict[str, Any]:
    began = time.monotonic()
    result = await client.call_tool(tool, arguments)
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{tool} failed: {text}")
    say(f"  {tool} ({time.monotonic() - began:.2f}s)")
    return dict(result.structured_content)


async def run_demo(settings: Settings, *, fake_model: bool, cwd: str, say: Print = print) -> bool:
    """Start, follow up (proving Codex kept the context), show the screen, end. True if all went well."""
    ok = True
    with tempfile.TemporaryDirectory(prefix="codex-mcp-demo-state-") as state:
        # The demo's conversations stay out of the user's own state dir.
        settings = settings.model_copy(update={"state_dir": Path(state)})
        async with Client(create_server(settings)) as client:
            say(f"Starting Codex in {cwd} ({'fake model' if fake_model else 'your Codex configuration'})…")
            first = await _call(
                client,
                "codex_start",
                say,
                prompt=f"Remember this code word: {CODE_WORD}. Reply with one short sentence.",
                cwd=cwd,
                timeout_s=120,
                approval_policy="never",
                sandbox="read-only",
            )
            cid = first["conversationId"]
            say(f"  conversationId: {cid}")
            say(f"  Codex: {first['reply']}")
            follow_up = "What was the code word? Answer with the word only."
            if fake_model:
                follow_up += " [[history]]"  # the fake model answers with every user message it received
            second = await _call(client, "codex_reply", say, conversationId=cid, prompt=follow_up, timeout_s=120)
            say(f"  Codex: {second['reply']}")
            remembered = CODE_WORD in (second["reply"] or "")
            say(f"  context kept across turns: {'yes' if remembered else 'NO'}")
            ok &= remembered and first["status"] == second["status"] == "completed"
            status = await _call(client, "codex_status", say, conversationId=cid)
            say("  Codex's screen now:")
            for line in status["screen"][-8:]:
                say(f"    │ {line}")
            ended = await _call(client, "codex_end", say, conversationId=cid)
            say(f"  ended: {ended['ended']} (Codex {ended['exit']})")
            ok &= bool(ended["ended"])
    say("Demo " + ("passed." if ok else "FAILED."))
    return ok
