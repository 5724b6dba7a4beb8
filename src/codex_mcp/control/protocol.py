"""The control channel's wire format, shared by the server side (control.py) and `codex-mcp ls`/`attach`
(attach.py), so that a terminal client imports this and nothing of the server.

A Unix domain socket per server process, in an owner-only directory under the state dir. Frames are JSON lines.
A client's first frame is a request: ``{"op": "list"}`` or
``{"op": "attach", "id": ..., "mode": "watch" | "control", "rows": R, "cols": C, "pid": P}``. An attached client
then gets ``{"data": <base64 output>}`` frames (the current screen first) and finally ``{"bye": <reason>}``; it
sends ``{"data": <base64 keys>}``, ``{"resize": [R, C]}`` and ``{"detach": true}``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

MAX_FRAME = 1 << 20
"""The longest request line the server reads."""

Message = dict[str, Any]


def control_dir(state_dir: Path) -> Path:
    """Where the servers' sockets live."""
    return state_dir / "control"


def sockets(state_dir: Path) -> list[Path]:
    """Control sockets of the servers sharing this state dir."""
    return sorted(control_dir(state_dir).glob("*.sock"))


def frame(message: Message) -> bytes:
    """One JSON line."""
    return (json.dumps(message) + "\n").encode()


def data_frame(data: bytes) -> Message:
    """Terminal bytes (output to a viewer, or keys from one) as a frame."""
    return {"data": base64.b64encode(data).decode()}


def data_of(message: Message) -> bytes:
    """The terminal bytes a data frame carries."""
    return base64.b64decode(message["data"])
