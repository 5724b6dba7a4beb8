"""A page of conversations for codex_list: every conversation in the state dir (also those other codex-mcp
processes started), live ones first, then the most recently active, read from the index (never a transcript),
with the filters a client may give and an opaque cursor to read on."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidInput
from ..storage.index import BadCursor, Filters, Position, Summary, decode_cursor, encode_cursor
from ..storage.store import Holder, Store, summary_of
from .conversation import Conversation
from .inputs import folder_filter, text_filter
from .repository import record_of

log = logging.getLogger(__name__)

ListState = Literal["live", "ended"]

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 200


@dataclass(frozen=True)
class Listed:
    """One conversation in a listing: its summary, and the conversation itself when this process runs it live."""

    summary: Summary
    conversation: Conversation | None
    holder: Holder | None = None
    """The codex-mcp server that runs it live (this one, or another sharing the state dir)."""
    elsewhere: bool = False
    """Another codex-mcp process runs it live."""


@dataclass(frozen=True)
class Listing:
    """A page of conversations."""

    entries: list[Listed]
    total: int
    """How many conversations match the filters, over all pages."""
    next_cursor: str | None


@dataclass(frozen=True)
class ListQuery:
    """What a client asks codex_list for: a page size, where to read on, and filters."""

    limit: int = DEFAULT_LIST_LIMIT
    cursor: str | None = None
    state: ListState | None = None
    cwd: str | None = None
    text: str | None = None
    id_prefix: str | None = None


def list_page(store: Store, here: Mapping[str, Conversation], problems: list[str], query: ListQuery) -> Listing:
    """One page of conversations; here: those this process runs live. A damaged index is rebuilt from the records
    (what could not be read is added to problems)."""
    limit, cursor, state, cwd, text = query.limit, query.cursor, query.state, query.cwd, query.text
    if not (1 <= limit <= MAX_LIST_LIMIT):
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    filters = Filters(
        live=None if state is None else state == "live",
        cwd=folder_filter(cwd),
        text=text_filter(text),
        id_prefix=query.id_prefix or None,
    )
    try:
        after = None if not cursor else decode_cursor(cursor, filters)
    except BadCursor as exc:
        raise InvalidInput(
            f"cursor {(cursor or '')[:40]!r} cannot be used: {exc}. Call codex_list without a cursor (and with the "
            "same filters) to start from the first page"
        ) from None
    try:
        return _page(store, here, filters, limit, after)
    except sqlite3.DatabaseError as exc:
        # A damaged index has been rebuilt empty by now: fill it from the records and try once more.
        log.warning("conversation index: %s; re-indexing the records", exc)
        problems += store.sync().problems
        return _page(store, here, filters, limit, after)


def _page(
    store: Store, here: Mapping[str, Conversation], filters: Filters, limit: int, after: Position | None
) -> Listing:
    holders = {cid: store.holder(cid) for cid in store.index.saved_live() if cid not in here}
    elsewhere = {cid: holder for cid, holder in holders.items() if holder is not None}
    live_ids = set(here) | set(elsewhere)
    summaries, position = store.index.page(filters, live_ids, limit, after)
    me = Holder(os.getpid(), store.client)
    entries = [
        Listed(summary_of(record_of(here[s.id])), here[s.id], me if here[s.id].live else None)
        if s.id in here
        else Listed(s, None, elsewhere.get(s.id), s.id in elsewhere)
        for s in summaries
    ]
    return Listing(
        entries=entries,
        total=store.index.count(filters, live_ids),
        next_cursor=None if position is None else encode_cursor(position, filters),
    )
