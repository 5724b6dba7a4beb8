"""The codex:// URIs conversations are read at as MCP resources, and what a URI names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInput

CONVERSATIONS_URI = "codex://conversations"
CONVERSATION_TEMPLATE = CONVERSATIONS_URI + "/{conversationId}"
PAGE_TEMPLATE = CONVERSATION_TEMPLATE + "/turns/{from_turn}"

_URI = re.compile(r"codex://conversations(?:/(?P<id>[^/?#]+)(?:/turns/(?P<turn>[0-9]{1,9}))?)?/?")


def conversation_uri(conversation_id: str) -> str:
    """The resource a conversation is read as."""
    return f"{CONVERSATIONS_URI}/{conversation_id}"


def page_uri(conversation_id: str, from_turn: int) -> str:
    """A page of a conversation's transcript, from a turn on."""
    return f"{conversation_uri(conversation_id)}/turns/{from_turn}"


@dataclass(frozen=True)
class Target:
    """What a codex:// URI names: the list (no id), a conversation, or a page of one."""

    conversation_id: str | None
    from_turn: int | None = None


def target_of(uri: str) -> Target:
    """The resource a URI names, or InvalidInput saying which URIs exist."""
    match = _URI.fullmatch(uri)
    if match is None or match["turn"] == "0":
        raise InvalidInput(
            f"no resource {uri[:200]!r}: this server has {CONVERSATIONS_URI}, {CONVERSATION_TEMPLATE} and "
            f"{PAGE_TEMPLATE} (turns count from 1)"
        )
    turn = match["turn"]
    return Target(match["id"], int(turn) if turn else None)
