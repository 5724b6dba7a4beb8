"""Typed errors. Each carries a message that tells the caller what to do next; tools.tool_errors maps them to
MCP tool errors in one place."""

from __future__ import annotations


class CodexMcpError(Exception):
    """Base class for every error a tool call can report to the client."""


class InvalidInput(CodexMcpError):
    """A tool argument is unusable (empty prompt, bad cwd, malformed id, bad config key)."""


class UnknownConversation(CodexMcpError):
    """No conversation with this id is known to the server."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        super().__init__(
            f"unknown conversationId {conversation_id!r}: call codex_list to see the known conversations, "
            "or codex_start to begin a new one"
        )


class ConversationElsewhere(CodexMcpError):
    """Another codex-mcp process holds this conversation's live Codex session and does not answer on its control
    channel (calls on it are otherwise passed on to that server: mcp/forwarding.py)."""

    def __init__(self, conversation_id: str, server_pid: int | None = None) -> None:
        self.conversation_id = conversation_id
        self.server_pid = server_pid
        which = f"codex-mcp server pid {server_pid}" if server_pid else "another codex-mcp server process"
        stop = f"`kill {server_pid}`" if server_pid else "end that server (`codex-mcp ls` lists the servers)"
        super().__init__(
            f"conversation {conversation_id} is live in {which}, which does not answer on its control channel "
            f"(hung, or shutting down): try again in a moment; if it stays so, {stop}, and the next codex_reply "
            "resumes the conversation here"
        )


class ThreadOpenElsewhere(CodexMcpError):
    """Another Codex process has the conversation's thread open (it holds Codex's writer lock for the thread):
    resuming would fail and replaying would fork the conversation, so nothing is done."""

    def __init__(self, conversation_id: str, thread_id: str, holder: str, codex_mcp_server: int | None) -> None:
        self.conversation_id = conversation_id
        self.thread_id = thread_id
        self.holder = holder
        where = (
            f" It is a Codex session of a codex-mcp server (pid {codex_mcp_server}): continue the conversation "
            f"through that server's client, or work in the same session with `codex-mcp attach {thread_id}` "
            "(codex_attach_info in that server gives the command)."
            if codex_mcp_server is not None
            else ""
        )
        super().__init__(
            f"conversation {conversation_id} is open in another Codex process ({holder}): its Codex thread "
            f"{thread_id} can have one writer at a time, and continuing here would fork it. Nothing was sent. "
            "Close that Codex (type /quit in it, or press Ctrl-C there), then call codex_reply again." + where
        )


class CodexNotFound(CodexMcpError):
    """The Codex binary cannot be found or run."""

    def __init__(self, what: str, recommended: str) -> None:
        super().__init__(
            f"Codex CLI not found ({what}). Install it with `npm install -g @openai/codex@{recommended}`, "
            "or point the server at it with --codex-bin / CODEX_MCP_CODEX_BIN"
        )


class CodexStartFailed(CodexMcpError):
    """Codex exited or got stuck before its composer was ready."""

    def __init__(self, reason: str, screen: list[str]) -> None:
        self.reason = reason
        self.screen = screen
        shown = "\n".join(line for line in screen if line.strip())
        super().__init__(f"Codex did not start: {reason}.\nLast screen lines:\n{shown}")


class TerminalClosed(CodexMcpError):
    """Writing to a terminal whose process has gone."""


class TooManySessions(CodexMcpError):
    """The configured cap on live Codex sessions is reached."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"{limit} Codex sessions are already live (the server's cap); end one with codex_end "
            "or raise --max-sessions / CODEX_MCP_MAX_SESSIONS"
        )


class NothingToApprove(CodexMcpError):
    """codex_approve was called while Codex is not asking anything."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            f"conversation {conversation_id} is not waiting for an approval; codex_approve answers only while "
            "codex_status shows status 'waiting_for_approval'"
        )


class NestedServer(CodexMcpError):
    """This server runs inside a Codex session that codex-mcp started, deeper than the settings allow: it starts
    no Codex and keeps no conversations (the outer server's are not its to show)."""

    def __init__(self, depth: int, allowed: int) -> None:
        self.depth = depth
        self.allowed = allowed
        super().__init__(
            f"this codex-mcp server runs inside a Codex session that codex-mcp started (nesting depth {depth}, "
            f"CODEX_MCP_MAX_NESTING={allowed}), so it starts no Codex sessions and lists no conversations: do the "
            "work in this Codex session itself. (codex-mcp turns off the entries of Codex's config that start it in "
            "the sessions it launches, and did not recognise this one: a wrapper script? Give it `enabled = false`, "
            f"or set CODEX_MCP_MAX_NESTING={depth} in its `env` to nest on purpose)"
        )


class SettingsRefused(CodexMcpError):
    """Codex could not run a turn with the model or effort a codex_reply asked for; the conversation went back to
    its earlier settings."""

    def __init__(self, conversation_id: str, asked: str, kept: str, error: str) -> None:
        super().__init__(
            f"Codex could not run the turn with {asked}: {error.strip()[:500]}. Conversation {conversation_id} keeps "
            f"{kept} and stays usable: reply again without model/effort, or with another model"
        )


class AppServerFailed(CodexMcpError):
    """Codex's app-server (which forks and reverts threads: codex/appserver.py) refused or could not run."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"{detail}. Nothing was changed: the conversation goes on as it was. Check `codex app-server --help` "
            "runs with this Codex, or try again"
        )
