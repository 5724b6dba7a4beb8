"""The one module that touches the MCP SDK's private parts, so that an SDK upgrade is checked in one place.

Checked on mcp 2.3 (pyproject allows >=2.3,<3). MCPServer keeps its low-level ``Server`` in ``_lowlevel_server``;
we need it for what MCPServer does not offer: request handlers with a request context for resources, completion,
``resources/subscribe`` and ``logging/setLevel``, and running on our own stdio streams (mcp/stdio.py). Should a
release drop the attribute, ``lowlevel_of`` returns None: the server then serves its tools and prompts only, on
the SDK's own stdio transport, and says so in a warning (tests/unit/test_sdk_privates.py)."""

from __future__ import annotations

import logging

from mcp.server import MCPServer
from mcp.server.lowlevel.server import Server

log = logging.getLogger(__name__)

_LOWLEVEL = "_lowlevel_server"
"""The private attribute (a name, so a test can play an SDK without it)."""


def lowlevel_of(server: MCPServer, *, what: str) -> Server | None:
    """MCPServer's low-level server, or None (with a warning naming `what` goes unserved) where the SDK lacks it."""
    lowlevel = getattr(server, _LOWLEVEL, None)
    if isinstance(lowlevel, Server):
        return lowlevel
    log.warning("this MCP SDK has no MCPServer._lowlevel_server: %s", what)
    return None
