"""codex-mcp: an MCP server that holds live, multi-turn conversations with the OpenAI Codex CLI.

The model is small. A ``Manager`` owns ``Conversation`` objects by conversationId (Codex's own thread id). A live
conversation is backed by a ``Session``: one real interactive ``codex`` TUI on a pseudo-terminal, its screen
rendered with pyte, its turns queued and each settled from the rollout JSONL Codex writes (``task_complete``),
never from the screen going quiet. Every change is saved as a record, so a conversation outlives its Codex and
its server: with no live session, the next reply resumes the thread (``codex resume``), else replays its
history into a new one, under the same conversationId.

The sub-packages, top down (each imports only those below it):
  cli/            the codex-mcp command (serve, doctor, demo, prune, ls, attach) and the fake model
  mcp/            the MCP boundary, the only package that imports the MCP SDK
  control/        the owner-only local socket that ls and attach use
  conversations/  the Manager, a Conversation, its records, the one Launcher, recovery, reviews, spares
  session/        one live Codex process: its turn queue, screen, dialogs, attached terminals
  storage/        records and their index on disk
  codex/          what we know of the Codex CLI: versions, argv, keys, screens, rollouts, locks
  terminal/       a process on a PTY (ptyprocess; ConPTY on Windows)
and turn.py, errors.py, config.py, _internal/ that all of them use.
"""

__version__ = "0.1.0"
