"""A stand-in for the Codex TUI, for fast unit tests of session.py (tests/unit/test_session.py; stdlib only).

It mimics the parts of Codex 0.169 that codex-mcp relies on, as docs/architecture.md describes them and the real
Codex's captures in tests/fixtures/codex/ show them:

- at start-up it asks the terminal for the cursor position (``ESC[6n``) and the background colour
  (``OSC 11;?``) and refuses to go on without answers, like crossterm would stall;
- it says ``OSC 7501;state=idle`` and draws a composer line ``› Ask Codex to do anything`` and a
  status-line footer ``  <thread uuid> · mock-model · Ready``;
- stdin is in raw mode; a bracketed paste (``ESC[200~ … ESC[201~``) fills the composer and ``\\r``
  submits it; the submitted text is normalised and trimmed as Codex does;
- a turn writes ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<uuid>.jsonl`` (local date
  and time at start-up, as Codex names it): ``session_meta`` on the first turn, then ``event_msg``
  ``task_started`` and ``task_complete`` with ``last_agent_message = "STANDIN: " + text`` (written in two
  parts, so a reader sees a half line first), and says ``state=working`` then ``state=done``;
- a submission while a turn runs steers it (the text joins the running turn, even ``/quit``), as Codex does;
  a submission in the short window between ``task_complete`` and ``state=done`` is lost;
- ``SLOW`` in the text delays the reply (``--slow-s``); ``CRASH`` exits 3 mid-turn; ``APPROVE`` shows
  an approval prompt and says ``state=blocked:app=codex:kind=permission`` until ``y``/Enter
  (approve) or ``n``/Esc (deny: the turn is aborted); Esc during a turn aborts it (``turn_aborted``),
  except the first Esc of a ``DEAF`` turn, which is lost (as one reaching Codex before its task starts);
  ``LAGGY`` holds the start of the turn (and its ``state=working``) half a second, reading no keys meanwhile;
- a composer starting with ``/`` is a slash command (``/quit`` exits 0) and one starting with ``!`` a
  local shell command: neither starts a turn.

Run as ``python tests/standin_tui.py [--uuid U] [--slow-s S] [--exit-at-start CODE] [--screen TEXT]
[--pid-file PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import errno
import json
import os
import select
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path

DEFAULT_UUID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
ST = b"\x1b\\"
LAG_S = 0.5
ESC_KEY_WAIT_S = 0.05  # a lone ESC not followed by more bytes within this time is the Esc key
QUERY_TIMEOUT_S = 3.0
FAST_TURN_S = 0.02
DONE_LAG_S = 0.03  # Codex writes task_complete ~20 ms before it says state=done


def out(data: bytes) -> None:
    """Write all of data to the terminal."""
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def osc_state(state: str, kind: str | None = None) -> bytes:
    """Codex's run-state OSC 7501."""
    body = f"7501;state={state}:app=codex" + (f":kind={kind}" if kind else "")
    return b"\x1b]" + body.encode() + ST


def normalise(text: str) -> str:
    """What Codex makes of a paste: CRLF/CR to LF, controls dropped, surrounding whitespace trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)).strip()


@dataclass
class Turn:
    """The turn the stand-in is working on."""

    turn_id: str
    text: str
    due: float | None  # when the reply is ready; None while an approval waits
    deaf: bool = False  # the next Esc is lost, as when it reaches Codex before the turn's task has started


class StandIn:
    """The stand-in TUI's state and its reactions to input."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.uuid: str = args.uuid
        self.slow_s: float = args.slow_s
        self.state = "idle"  # idle | working | blocked | finishing
        self.turn: Turn | None = None
        self.turns = 0
        self.done_at: float | None = None
        self.composer = ""
        self.transcript: list[str] = []
        self.notes: list[str] = []
        self.buf = bytearray()
        self.in_paste = False
        self.paste = bytearray()
        self.esc_since: float | None = None
        self.cpr: str | None = None
        self.background: str | None = None
        home = os.environ.get("CODEX_HOME") or str(Path.home() / ".codex")
        # Like Codex: the day folder and timestamp of the moment the thread starts (local time).
        started = time.localtime()
        day = time.strftime("%Y/%m/%d", started)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", started)
        self.rollout = Path(home) / "sessions" / day / f"rollout-{stamp}-{self.uuid}.jsonl"

    # --- drawing ---------------------------------------------------------------------------------

    def draw(self) -> None:
        """Redraw the whole screen: transcript, notes, composer, footer."""
        rows, _ = self.size()
        if self.state == "blocked":
            body = [
                "Would you like to run the following command?",
                "  $ touch approved.txt",
                "› 1. Yes, proceed (y)",
                "  2. No, and tell Codex what to do differently (esc)",
            ]
            footer = f"  {self.uuid} · mock-model · Working"
        else:
            composer = "› " + (self.composer.splitlines()[0] if self.composer else "Ask Codex to do anything")
            body = [composer]
            footer = f"  {self.uuid} · mock-model · {'Ready' if self.state == 'idle' else 'Working'}"
        head = [f"standin tui (terminal answered: cpr={self.cpr} bg={self.background})", *self.notes]
        room = max(0, rows - len(head) - len(body) - 2)
        lines = head + (self.transcript[-room:] if room else []) + ["", *body, footer]
        out(b"\x1b[H\x1b[2J" + "\r\n".join(lines).encode())

    @staticmethod
    def size() -> tuple[int, int]:
        """(rows, cols) of the terminal."""
        try:
            cols, rows = os.get_terminal_size(1)
        except OSError:
            return 24, 80
        return rows, cols

    # --- rollout ---------------------------------------------------------------------------------

    def record(self, record: dict[str, object], split: bool = False) -> None:
        """Append one JSON line to the rollout; split=True writes it in two parts (a reader must wait)."""
        line = (json.dumps(record) + "\n").encode()
        self.rollout.parent.mkdir(parents=True, exist_ok=True)
        with self.rollout.open("ab") as f:
            if split:
                half = len(line) // 2
                f.write(line[:half])
                f.flush()
                time.sleep(0.005)
                f.write(line[half:])
            else:
                f.write(line)

    def event(self, payload: dict[str, object], split: bool = False) -> None:
        """Append an event_msg line."""
        now = datetime.datetime.now(datetime.UTC).isoformat()
        self.record({"timestamp": now, "type": "event_msg", "payload": payload}, split)

    # --- turns -----------------------------------------------------------------------------------

    def submit(self, raw: str) -> None:
        """The composer's text was submitted with Enter."""
        text = normalise(raw)
        if not text:
            return
        if self.state == "finishing":
            self.notes.append("standin: input sent while the turn was finishing was lost")
            self.draw()
            return
        if self.state == "working" and self.turn is not None:
            self.turn.text += "\n" + text  # Codex steers the running turn with it, even "/quit"
            return
        if self.state != "idle":
            return
        # Like Codex, a slash command or a shell command is recognised by the composer's first character.
        if raw.startswith("/"):
            if text == "/quit":
                raise SystemExit(0)
            self.notes.append(f"standin: unknown command {text!r}")
            return
        if raw.startswith("!"):
            self.notes.append(f"standin: ran a local shell command {text!r}")
            return
        self.start_turn(text)

    def start_turn(self, text: str) -> None:
        """Begin a turn: rollout task_started, state=working; CRASH/APPROVE/SLOW/LAGGY behave specially."""
        if "LAGGY" in text:
            time.sleep(LAG_S)  # a loaded machine: Codex says it works a while after the prompt reached it
        self.turns += 1
        if not self.rollout.exists():
            self.record({"type": "session_meta", "payload": {"id": self.uuid, "cwd": os.getcwd()}})
        turn_id = f"turn-{self.turns}"
        self.event({"type": "task_started", "turn_id": turn_id})
        self.record(
            {
                "type": "response_item",
                "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            }
        )
        self.transcript.append(f"user: {text.splitlines()[0]}")
        if "CRASH" in text:
            out(b"\x1b[H\x1b[2Jstandin: crashing mid-turn\r\n")
            raise SystemExit(3)
        due = time.monotonic() + (self.slow_s if "SLOW" in text else FAST_TURN_S)
        self.turn = Turn(turn_id, text, None if "APPROVE" in text else due, deaf="DEAF" in text)
        if "APPROVE" in text:
            self.state = "blocked"
            out(osc_state("working") + osc_state("blocked", "permission"))
        else:
            self.state = "working"
            out(osc_state("working"))
        self.draw()

    def approve(self) -> None:
        """The approval prompt was answered yes."""
        if self.turn is not None:
            self.turn.due = time.monotonic() + FAST_TURN_S
        self.state = "working"
        out(osc_state("working"))
        self.draw()

    def abort(self) -> None:
        """Esc during a turn (or 'no' to an approval): the turn is interrupted."""
        if self.turn is not None:
            self.event({"type": "turn_aborted", "turn_id": self.turn.turn_id, "reason": "interrupted"})
        self.turn = None
        self.state = "idle"
        self.transcript.append("■ Conversation interrupted")
        out(osc_state("idle"))
        self.draw()

    def complete(self) -> None:
        """The reply is ready: rollout task_complete, then (a moment later) state=done."""
        assert self.turn is not None
        reply = "STANDIN: " + self.turn.text
        self.record(
            {
                "type": "response_item",
                "payload": {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply}],
                },
            }
        )
        self.event({"type": "task_complete", "turn_id": self.turn.turn_id, "last_agent_message": reply}, split=True)
        self.transcript.append(f"• {reply.splitlines()[0]}")
        self.turn = None
        self.state = "finishing"
        self.done_at = time.monotonic() + DONE_LAG_S

    def finish(self) -> None:
        """Say the turn is done and show the composer again."""
        self.done_at = None
        self.state = "idle"
        out(osc_state("done"))
        self.draw()

    # --- input -----------------------------------------------------------------------------------

    def key(self, byte: int) -> None:
        """One key that is not part of a paste or an escape sequence."""
        if byte == 0x1B:
            if self.turn is not None and self.turn.deaf:
                self.turn.deaf = False
                return
            if self.state in ("working", "blocked"):
                self.abort()
            return
        if self.state == "blocked":
            if byte in (ord("y"), 0x0D):
                self.approve()
            elif byte == ord("n"):
                self.abort()
            return
        if byte == 0x0D:
            text, self.composer = self.composer, ""
            self.submit(text)
            if self.state != "finishing":
                self.draw()
        elif byte >= 0x20:
            self.composer += chr(byte)

    def parse(self) -> None:
        """Consume what can be consumed of the input buffer (pastes, terminal answers, keys)."""
        buf = self.buf
        while buf:
            if self.in_paste:
                end = buf.find(PASTE_END)
                if end < 0:
                    keep = max(0, len(buf) - (len(PASTE_END) - 1))  # the end marker may be split
                    self.paste += buf[:keep]
                    del buf[:keep]
                    return
                self.paste += buf[:end]
                del buf[: end + len(PASTE_END)]
                self.in_paste = False
                if self.state != "blocked":  # an approval prompt takes no pasted text
                    self.composer += self.paste.decode("utf-8", "replace")
                continue
            if buf[0] != 0x1B:
                byte = buf[0]
                del buf[:1]
                self.key(byte)
                continue
            if len(buf) == 1:
                if self.esc_since is None:
                    self.esc_since = time.monotonic()
                return  # Esc key or the start of a sequence: decided by the next bytes or a timeout
            self.esc_since = None
            if buf[1] == ord("["):  # CSI: parameters then a final byte 0x40-0x7e
                final = next((j for j in range(2, len(buf)) if 0x40 <= buf[j] <= 0x7E), None)
                if final is None:
                    return
                seq = bytes(buf[: final + 1])
                del buf[: final + 1]
                if seq == PASTE_START:
                    self.in_paste = True
                    self.paste = bytearray()
                elif seq.endswith(b"R"):
                    self.cpr = seq[2:-1].decode()
                continue
            if buf[1] == ord("]"):  # OSC answer, ended by BEL or ST
                ends = [e for e in (buf.find(b"\x07"), buf.find(ST)) if e >= 0]
                if not ends:
                    return
                end = min(ends)
                body = bytes(buf[2:end]).decode("utf-8", "replace")
                del buf[: end + (1 if buf[end] == 0x07 else 2)]
                code, _, data = body.partition(";")
                if code == "11":
                    self.background = data
                continue
            del buf[:1]  # ESC followed by something else: the Esc key, then that key
            self.key(0x1B)

    def read_input(self, timeout: float | None) -> None:
        """Wait up to timeout for input and handle it."""
        ready, _, _ = select.select([0], [], [], timeout)
        if ready:
            try:
                data = os.read(0, 65536)
            except OSError as exc:
                if exc.errno == errno.EIO:  # the terminal hung up
                    raise SystemExit(0) from None
                raise
            if not data:
                raise SystemExit(0)
            self.buf += data
            self.parse()
        lone_esc = self.buf == b"\x1b" and self.esc_since is not None
        if lone_esc and time.monotonic() - (self.esc_since or 0.0) >= ESC_KEY_WAIT_S:
            self.buf.clear()
            self.esc_since = None
            self.key(0x1B)

    # --- main loop -------------------------------------------------------------------------------

    def query_terminal(self) -> None:
        """Ask for the cursor position and background colour; exit 4 if the terminal never answers."""
        out(b"\x1b[6n\x1b]11;?" + ST)
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        while self.cpr is None or self.background is None:
            left = deadline - time.monotonic()
            if left <= 0:
                out(b"standin: the terminal did not answer the cursor position / colour queries\r\n")
                raise SystemExit(4)
            self.read_input(left)

    def run(self) -> None:
        """Start up, then react to input and timers until /quit."""
        self.query_terminal()
        out(osc_state("idle"))
        self.draw()
        while True:
            now = time.monotonic()
            waits: list[float] = []
            if self.turn is not None and self.turn.due is not None:
                waits.append(self.turn.due - now)
            if self.done_at is not None:
                waits.append(self.done_at - now)
            if self.esc_since is not None:
                waits.append(self.esc_since + ESC_KEY_WAIT_S - now)
            self.read_input(max(0.0, min(waits)) if waits else None)
            now = time.monotonic()
            if self.state == "working" and self.turn is not None and self.turn.due is not None and now >= self.turn.due:
                self.complete()
            if self.done_at is not None and now >= self.done_at:
                self.finish()


def main() -> None:
    """Parse arguments and run the stand-in."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uuid", default=DEFAULT_UUID)
    parser.add_argument("--slow-s", type=float, default=0.8, help="how long a SLOW turn takes")
    parser.add_argument("--exit-at-start", type=int, default=None, help="print an error and exit with this code")
    parser.add_argument("--screen", default=None, help="show this text instead of the composer, forever")
    parser.add_argument("--pid-file", default=None)
    args = parser.parse_args()
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    if args.exit_at_start is not None:
        out(f"ERROR: standin refusing to start (exit {args.exit_at_start})\r\n".encode())
        raise SystemExit(args.exit_at_start)
    if args.screen is not None:
        out(b"\x1b[H\x1b[2J" + args.screen.encode() + b"\r\n")
        while True:
            time.sleep(60)
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        StandIn(args).run()
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    main()
