"""The control channel's wire format, shared by the server side (server.py) and `codex-mcp ls`/`attach`
(attach.py), so that a terminal client imports this and nothing of the server. How the frames travel, and who may
send them, is transport.py's.

Frames are JSON lines.
A client's first frame is a request: ``{"op": "list"}`` or
``{"op": "attach", "id": ..., "mode": "watch" | "control", "rows": R, "cols": C, "pid": P}``. An attached client
then gets ``{"data": <base64 output>}`` frames (the current screen first) and finally ``{"bye": <reason>}``; it
sends ``{"data": <base64 keys>}``, ``{"resize": [R, C]}`` and ``{"detach": true}``."""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_FRAME = 1 << 20
"""The longest request line the server reads."""

Message = dict[str, Any]


def frame(message: Message) -> bytes:
    """One JSON line."""
    return (json.dumps(message) + "\n").encode()


def data_frame(data: bytes) -> Message:
    """Terminal bytes (output to a viewer, or keys from one) as a frame."""
    return {"data": base64.b64encode(data).decode()}


def data_of(message: Message) -> bytes:
    """The terminal bytes a data frame carries."""
    return base64.b64decode(message["data"])
