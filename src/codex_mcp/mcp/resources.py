"""Conversations as MCP resources: codex://conversations (the newest and live ones, a page at a time) and
codex://conversations/{conversationId} (one conversation's transcript as Markdown, with .../turns/{from_turn} for
earlier pages), and the subscriptions that tell a client when one changed: resources/subscribe on handshake-era
connections, the SDK's subscription bus for 2026-07-28 subscriptions/listen streams."""

from __future__ import annotations

import functools

from mcp_types import (
    Annotations,
    CallToolResult,
    EmptyResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)

from ..conversations.listing import ListQuery
from ..conversations.manager import Manager
from .context import Forwarded, manager_of, protocol_errors
from .context import RequestCtx as Ctx
from .forwarding import forwardable
from .results import ConversationInfo, conversation_info
from .subscriptions import Subscriptions
from .transcript import transcript_markdown
from .uris import CONVERSATION_TEMPLATE, CONVERSATIONS_URI, PAGE_TEMPLATE, conversation_uri, page_uri, target_of

MARKDOWN = "text/markdown"
LISTED = 50
"""Conversations per page of resources/list and in codex://conversations: enough to find this week's, few enough
for a client's @-mention menu. codex_list pages and filters all of them."""

# --- listing and reading -------------------------------------------------------------------------------


def _listed(info: ConversationInfo) -> Resource:
    return Resource(
        uri=conversation_uri(info.conversationId),
        name=f"codex-conversation-{info.conversationId}",
        title=info.first_prompt or "(no prompt yet)",
        description=f"Codex conversation, {info.state}, {info.turns} turn(s), in {info.cwd}",
        mime_type=MARKDOWN,
        annotations=Annotations(last_modified=info.last_activity),
    )


LIST_RESOURCE = Resource(
    uri=CONVERSATIONS_URI,
    name="codex-conversations",
    title="Codex conversations",
    description=f"The {LISTED} most recent Codex conversations (live first), with their ids, folders and first prompts",
    mime_type=MARKDOWN,
)


@protocol_errors
async def list_resources(ctx: Ctx, params: PaginatedRequestParams | None) -> ListResourcesResult:
    """resources/list: the list itself, then each conversation (live first, then newest), a page at a time."""
    cursor = params.cursor if params is not None else None
    page = manager_of(ctx).listing(ListQuery(limit=LISTED, cursor=cursor))
    listed = [_listed(conversation_info(e)) for e in page.entries]
    return ListResourcesResult(resources=([] if cursor else [LIST_RESOURCE]) + listed, next_cursor=page.next_cursor)


async def list_templates(ctx: Ctx, params: PaginatedRequestParams | None) -> ListResourceTemplatesResult:
    """resources/templates/list: one conversation, and a page of it."""
    return ListResourceTemplatesResult(
        resource_templates=[
            ResourceTemplate(
                uri_template=CONVERSATION_TEMPLATE,
                name="codex-conversation",
                title="Codex conversation transcript",
                description="A Codex conversation as Markdown: its state, folder and model, then each turn's prompt "
                "and reply (the newest turns that fit, with where to read earlier ones)",
                mime_type=MARKDOWN,
            ),
            ResourceTemplate(
                uri_template=PAGE_TEMPLATE,
                name="codex-conversation-turns",
                title="Codex conversation transcript from a turn on",
                description="A page of a Codex conversation's transcript, from turn from_turn (1 is the first) on",
                mime_type=MARKDOWN,
            ),
        ]
    )


@protocol_errors
async def read_resource(ctx: Ctx, params: ReadResourceRequestParams) -> ReadResourceResult:
    """resources/read of the list, a conversation, or a page of one."""
    uri = str(params.uri)
    target = target_of(uri)
    manager = manager_of(ctx)
    if target.conversation_id is None:
        text = conversations_markdown(manager)
    else:
        read = await codex_read_conversation(conversationId=target.conversation_id, from_turn=target.from_turn, ctx=ctx)
        [content] = read.content  # an error on either server is raised, not returned as a result
        assert isinstance(content, TextContent)
        text = content.text
    return ReadResourceResult(contents=[TextResourceContents(uri=uri, text=text, mime_type=MARKDOWN)])


@forwardable
async def codex_read_conversation(
    conversationId: str,  # noqa: N803
    from_turn: int | None,
    ctx: Ctx | Forwarded,
) -> CallToolResult:
    """A conversation's resource, read where it lives: on the server that runs it live, if another window's does,
    so that its running turn reads as it stands there, not as last saved (not an MCP tool: passed on only)."""
    manager = manager_of(ctx)
    conv = manager.get(conversationId)
    budget = manager.settings.reply_budget_chars
    text = transcript_markdown(conv, from_turn, budget, functools.partial(page_uri, conv.id))
    return CallToolResult(content=[TextContent(type="text", text=text)])


def conversations_markdown(manager: Manager) -> str:
    """codex://conversations: the first page of conversations, one line each."""
    page = manager.listing(ListQuery(limit=LISTED))
    lines = [
        "# Codex conversations",
        "",
        f"{page.total} conversation(s), live ones first, then the most recently active"
        + (f"; the first {LISTED} are shown (codex_list filters and pages them all)." if page.next_cursor else "."),
        "",
    ]
    for entry in page.entries:
        info = conversation_info(entry)
        lines.append(
            f"- **{info.state}** `{info.conversationId}`: {info.first_prompt or '(no prompt yet)'} "
            f"({info.turns} turn(s), {info.cwd}, last active {info.last_activity}) "
            f"{conversation_uri(info.conversationId)}"
        )
    return "\n".join(lines) + "\n"


# --- subscriptions -------------------------------------------------------------------------------------


def subscriptions_of(ctx: Ctx) -> Subscriptions:
    """The server's subscriptions (or the nested server's refusal)."""
    manager_of(ctx)
    subscriptions = ctx.lifespan_context.subscriptions
    assert subscriptions is not None
    return subscriptions


@protocol_errors
async def subscribe(ctx: Ctx, params: SubscribeRequestParams) -> EmptyResult:
    """resources/subscribe (handshake-era clients): notifications/resources/updated when the resource changes."""
    uri = str(params.uri)
    target = target_of(uri)
    if target.conversation_id is not None:
        manager_of(ctx).get(target.conversation_id)  # an unknown id is an error now, not silence forever
    subscriptions_of(ctx).subscribe(uri, ctx.session)
    return EmptyResult()


@protocol_errors
async def unsubscribe(ctx: Ctx, params: UnsubscribeRequestParams) -> EmptyResult:
    """resources/unsubscribe."""
    subscriptions_of(ctx).unsubscribe(str(params.uri), ctx.session)
    return EmptyResult()
