"""Conversations by id, whatever backs them now: the Manager (the rules across conversations), one Conversation,
the Repository between them and storage, the Launcher (the one caller that starts Codex), bringing a
conversation back (reviver), reviews (reviewer), the warm spare (spares), codex_list pages (listing) and the checks
on what a client sends (inputs). Must not know MCP."""
