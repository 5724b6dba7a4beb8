"""How Codex is launched and fed: prompt encoding, TOML overrides, argv, and reading its screen."""

from __future__ import annotations

import json
import math
import os
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from codex_mcp.codex.argv import STATUS_LINE_OVERRIDE, config_overrides, new_session_argv, toml_value
from codex_mcp.codex.binary import codex_env, resolve_binary
from codex_mcp.codex.keys import (
    PASTE_END,
    PASTE_START,
    QUIT_KEYS,
    TITLE_CHARS,
    encode_prompt,
    rename_keys,
    sanitize_prompt,
    thread_title,
)
from codex_mcp.codex.settings import JsonValue, LaunchOptions
from codex_mcp.codex.tui import parse_run_state, read_screen
from codex_mcp.codex.versions import (
    RECOMMENDED_VERSION,
    SUPPORTED_VERSIONS,
    TESTED_VERSIONS,
    version_key,
    version_support,
)
from codex_mcp.errors import CodexNotFound, InvalidInput

THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
FOOTER = f"  {THREAD} · mock-model · Ready"
COMPOSER = "› Ask Codex to do anything"

# Pieces that have broken prompt delivery somewhere: terminal controls, the paste markers, line endings,
# Codex's command prefixes and mention triggers, Unicode whitespace and wide characters.
HOSTILE = [
    "\x1b", "\x1b[201~", "\x1b[200~", "\x1b[A", "\x1b]0;x\x07", "\r", "\r\n", "\n", "\t", "\x00", "\x03", "\x04",
    "\x07", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\x9b", "\x9c", "\x9d", "/", "!", "/quit", "!rm -rf ~",
    "$x", "@x", " ", "\u00a0", "\u2028", "\u3000", "é", "日本語", "😀", "\ufeff",
]  # fmt: skip
prompts = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20)), max_size=12).map("".join)
C0_C1_DEL = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)])  # Unicode category Cc
CONTROLS_AND_SPACE = [*C0_C1_DEL, " ", "\u00a0", "\u3000"]


def split_paste(data: bytes) -> bytes:
    """The pasted payload of an encoded prompt, after checking the frame around it."""
    assert data.startswith(PASTE_START)
    assert data.endswith(PASTE_END + b"\r")
    return data[len(PASTE_START) : -len(PASTE_END) - 1]


# --- prompts ----------------------------------------------------------------------------------------


@given(prompts)
@example("/quit")
@example("!ls")
@example("  /status  ")
@example("hello $x")
@example("a\x1b[201~\rb")
@example("line1\r\nline2\rline3")
def test_encode_prompt_is_one_inert_paste(text: str) -> None:
    try:
        clean = sanitize_prompt(text)
    except InvalidInput:
        with pytest.raises(InvalidInput):
            encode_prompt(text)
        return
    payload = split_paste(encode_prompt(text))
    # Nothing inside can end the paste or act as a key: no ESC, no C0 but \n and \t, no DEL.
    assert all(b >= 0x20 or b in (0x09, 0x0A) for b in payload), payload
    assert 0x7F not in payload
    assert b"\x1b" not in payload
    decoded = payload.decode("utf-8")  # strict: valid UTF-8
    assert not any(0x80 <= ord(c) <= 0x9F for c in decoded)  # no C1 controls (0x9b is a one-byte CSI)
    # Codex trims surrounding whitespace, so the model receives exactly the sanitised prompt...
    assert decoded.strip() == clean
    # ...yet the composer never starts with a command prefix, and never ends inside a $/@ mention.
    assert not decoded.startswith(("/", "!"))
    assert decoded.endswith("\n")


@given(prompts)
def test_sanitize_prompt_is_idempotent(text: str) -> None:
    try:
        clean = sanitize_prompt(text)
    except InvalidInput:
        return
    assert sanitize_prompt(clean) == clean


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters=C0_C1_DEL), min_size=1))
def test_sanitize_prompt_keeps_ordinary_text(text: str) -> None:
    if not text.strip():
        return
    assert sanitize_prompt(text) == text.strip()


def test_sanitize_prompt_normalises_line_breaks_and_drops_controls() -> None:
    assert sanitize_prompt("  a\r\nb\rc\n\td\x1b[201~e\x00\x7f\x9bf  ") == "a\nb\nc\n\td[201~ef"


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("/quit", b" /quit\n"),
        ("!rm -rf ~", b" !rm -rf ~\n"),
        ("  /review  ", b" /review\n"),
        ("look at @src/main.py", b"look at @src/main.py\n"),
        ("use $skill", b"use $skill\n"),
        ("日本語 😀", "日本語 😀\n".encode()),
    ],
)
def test_encode_prompt_examples(text: str, payload: bytes) -> None:
    assert encode_prompt(text) == PASTE_START + payload + PASTE_END + b"\r"


@given(st.lists(st.sampled_from(CONTROLS_AND_SPACE), max_size=20).map("".join))
def test_empty_whitespace_or_control_only_prompts_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        sanitize_prompt(text)
    with pytest.raises(InvalidInput):
        encode_prompt(text)


def test_quit_keys_are_a_pasted_quit_command() -> None:
    assert split_paste(QUIT_KEYS) == b"/quit"


# --- TOML values ------------------------------------------------------------------------------------


def same(a: object, b: object) -> bool:
    """Equal in value and in type, all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def parse_toml_value(text: str) -> object:
    """What a TOML parser (as Codex's `-c key=value` uses) makes of a rendered value."""
    return tomllib.loads(f"v = {text}")["v"]


# Strings without DEL: see test_toml_string_with_del_is_valid_toml for that one.
toml_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x7f"))
# Table keys within the Basic Multilingual Plane: see test_toml_key_outside_the_bmp_is_valid_toml for the rest.
toml_key = st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0xFFFF))
json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        toml_text,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(toml_key, inner, max_size=4)),
    max_leaves=12,
)


@given(json_values)
def test_toml_value_round_trips(value: JsonValue) -> None:
    parsed = parse_toml_value(toml_value(value))
    assert same(parsed, value), (value, parsed)


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (1.5, "1.5"),
        ('say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'),
        ("naïve 日本", '"naïve 日本"'),
        (["a", 1, False], '["a", 1, false]'),
        ({"trust_level": "trusted"}, '{"trust_level" = "trusted"}'),
    ],
)
def test_toml_value_examples(value: JsonValue, rendered: str) -> None:
    assert toml_value(value) == rendered


def test_toml_nested_tables_with_awkward_keys() -> None:
    value: JsonValue = {"a.b": 1, "with space": {'q"': [1, "x", {"deep": True}]}, "ü": [], "": "empty key"}
    assert same(parse_toml_value(toml_value(value)), value)


def test_toml_string_with_del_is_valid_toml() -> None:
    assert parse_toml_value(toml_value(["a\x7fb"])) == ["a\x7fb"]


def test_toml_key_outside_the_bmp_is_valid_toml() -> None:
    assert parse_toml_value(toml_value({"📁": 1})) == {"📁": 1}


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, [1.0, math.nan], {"x": math.inf}, None, [None], {"x": None}],
    ids=["nan", "inf", "-inf", "nan-in-list", "inf-in-table", "null", "null-in-list", "null-in-table"],
)
def test_toml_value_rejects_what_toml_cannot_say(value: JsonValue) -> None:
    with pytest.raises(InvalidInput):
        toml_value(value)


# --- config overrides -------------------------------------------------------------------------------


def test_config_overrides_are_key_value_pairs_codex_can_parse() -> None:
    config: dict[str, JsonValue] = {
        "model_reasoning_effort": "high",
        "features.shell_snapshot": False,
        "sandbox_workspace_write.writable_roots": ["/tmp/a b", "/x"],
        "shell_environment_policy": {"inherit": "all", "set": {"A": "1"}},
    }
    args = config_overrides(config)
    assert args[0::2] == ["-c"] * len(config)
    # Codex splits each at the first "=", and parses the right side as TOML.
    parsed = {}
    for item in args[1::2]:
        key, _, value = item.partition("=")
        parsed[key] = parse_toml_value(value)
    assert same(parsed, config)


@pytest.mark.parametrize(
    "key", ["", "with space", "a=b", "a..b", ".a", "a.", "../x", "a/b", "x\ny", 'projects."/p"', "ключ"]
)
def test_config_overrides_reject_keys_that_are_not_config_paths(key: str) -> None:
    with pytest.raises(InvalidInput, match="config key"):
        config_overrides({key: 1})


@pytest.mark.parametrize("key", ["model\n", "projects\n", "tui.status_line\n"])
def test_config_overrides_reject_a_trailing_newline(key: str) -> None:
    with pytest.raises(InvalidInput):
        config_overrides({key: "x"})


@pytest.mark.parametrize("key", ["tui.status_line", "tui", "projects", "projects.x", "projects.x.trust_level"])
def test_config_overrides_reject_keys_codex_mcp_sets_itself(key: str) -> None:
    with pytest.raises(InvalidInput, match="set by codex-mcp"):
        config_overrides({key: "x"})


@pytest.mark.parametrize("key", ["projectsx", "tui.status_line_extra", "tui.theme", "my.projects"])
def test_config_overrides_allow_keys_that_only_look_reserved(key: str) -> None:
    assert config_overrides({key: "x"}) == ["-c", f'{key}="x"']


def test_config_overrides_reject_null_values() -> None:
    with pytest.raises(InvalidInput, match="null"):
        config_overrides({"model": None})


# --- argv -------------------------------------------------------------------------------------------


def c_overrides(argv: list[str]) -> list[str]:
    """The values of every -c flag, in order."""
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]


def merged_config(argv: list[str]) -> dict[str, object]:
    """The config Codex ends up with from the -c flags (later flags win, like Codex applies them)."""
    merged: dict[str, object] = {}
    for item in c_overrides(argv):
        merged.update(tomllib.loads(item))  # each `key=value` is itself a TOML document
    return merged


def flag_value(argv: list[str], flag: str) -> str | None:
    """The item right after flag, or None if flag is absent."""
    return argv[argv.index(flag) + 1] if flag in argv else None


@pytest.mark.parametrize("cwd", ["/tmp/work", "/tmp/my proj.v2/ü \"quoted\" 'x'", "/tmp/back\\slash"])
def test_new_session_argv_has_our_flags_and_no_shell(cwd: str) -> None:
    argv = new_session_argv("/opt/codex/bin/codex", LaunchOptions(cwd=cwd))
    assert argv[0] == "/opt/codex/bin/codex"
    assert "--no-daemon" in argv
    assert flag_value(argv, "-C") == cwd  # one argv item, however odd the path
    config = merged_config(argv)
    assert config["projects"] == {cwd: {"trust_level": "trusted"}}
    assert STATUS_LINE_OVERRIDE in c_overrides(argv)
    assert tomllib.loads(STATUS_LINE_OVERRIDE)["tui"]["status_line"][0] == "thread-id"
    for flag in ("-m", "-p", "-s", "-a"):
        assert flag not in argv
    assert not any(os.path.basename(a) in ("sh", "bash", "zsh") for a in argv)
    assert "-lc" not in argv


def test_new_session_argv_passes_the_client_choices() -> None:
    options = LaunchOptions(
        cwd="/w",
        model="gpt-test",
        profile="fast",
        sandbox="workspace-write",
        approval_policy="on-request",
        config={"model_reasoning_effort": "low", "features.shell_snapshot": False},
    )
    argv = new_session_argv("codex", options)
    assert flag_value(argv, "-m") == "gpt-test"
    assert flag_value(argv, "-p") == "fast"
    assert flag_value(argv, "-s") == "workspace-write"
    assert flag_value(argv, "-a") == "on-request"
    config = merged_config(argv)
    assert config["model_reasoning_effort"] == "low"
    assert config["features"] == {"shell_snapshot": False}
    assert config["projects"] == {"/w": {"trust_level": "trusted"}}


def test_trust_override_parses_for_an_emoji_folder() -> None:
    cwd = "/home/me/📁 notes"
    assert merged_config(new_session_argv("codex", LaunchOptions(cwd=cwd)))["projects"] == {
        cwd: {"trust_level": "trusted"}
    }


def test_new_session_argv_validates_the_config_first() -> None:
    with pytest.raises(InvalidInput):
        new_session_argv("codex", LaunchOptions(cwd="/w", config={"projects": {}}))


def test_resolve_binary(tmp_path: Path) -> None:
    assert resolve_binary(sys.executable) == os.path.abspath(sys.executable)
    with pytest.raises(CodexNotFound, match="does not exist"):
        resolve_binary(str(tmp_path / "nope" / "codex"))
    plain = tmp_path / "codex"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(CodexNotFound, match="not executable"):
        resolve_binary(str(plain))
    with pytest.raises(CodexNotFound, match="not on PATH"):
        resolve_binary("codex-mcp-no-such-binary-7f3a")


def test_codex_env_sets_a_known_terminal_and_drops_fixed_sizes() -> None:
    env = codex_env({"PATH": "/bin", "TERM": "dumb", "COLUMNS": "10", "LINES": "5", "CODEX_HOME": "/h"})
    assert env == {"PATH": "/bin", "TERM": "xterm-256color", "CODEX_HOME": "/h"}


# --- reading the screen -----------------------------------------------------------------------------


def test_ready_screen_gives_thread_id_and_run_state() -> None:
    facts = read_screen(["", ">_ OpenAI Codex (v0.169.0)", "", COMPOSER, "", FOOTER, ""])
    assert facts.ready is True
    assert facts.thread_id == THREAD
    assert facts.footer_state == "Ready"
    assert facts.blocker is None


def test_footer_shows_working() -> None:
    facts = read_screen([COMPOSER, FOOTER.replace("Ready", "Working")])
    assert facts.footer_state == "Working"


def test_no_composer_is_not_ready() -> None:
    facts = read_screen(["Loading...", FOOTER])
    assert facts.ready is False
    assert facts.thread_id == THREAD


def test_no_footer_is_not_ready() -> None:
    facts = read_screen([COMPOSER, "  mock-model"])
    assert facts.ready is False
    assert facts.thread_id is None


def test_trust_dialog_is_a_blocker() -> None:
    lines = [
        "> You are in /tmp/repo",
        "  Do you trust the contents of this directory? Working with untrusted contents comes with higher risk.",
        "› 1. Yes, continue",
        "  2. No, quit",
    ]
    facts = read_screen(lines)
    assert facts.ready is False
    assert facts.blocker is not None
    assert "trust" in facts.blocker


def test_login_screen_is_a_blocker_that_says_what_to_do() -> None:
    facts = read_screen(["  Welcome! Sign in with ChatGPT to use Codex", "› 1. Sign in with ChatGPT"])
    assert facts.ready is False
    assert facts.blocker is not None
    assert "codex login" in facts.blocker


@pytest.mark.parametrize(
    ("data", "state", "fields"),
    [
        ("state=idle:app=codex", "idle", {"state": "idle", "app": "codex"}),
        ("state=done:app=codex", "done", {"state": "done", "app": "codex"}),
        (
            "state=blocked:app=codex:kind=permission",
            "blocked",
            {"state": "blocked", "app": "codex", "kind": "permission"},
        ),
        ("app=codex", "", {"app": "codex"}),
        ("", "", {"": ""}),
    ],
)
def test_parse_run_state(data: str, state: str, fields: dict[str, str]) -> None:
    assert parse_run_state(data) == (state, fields)


# --- the supported window ------------------------------------------------------------------------


def test_supported_versions_are_sorted_and_include_the_recommended_one() -> None:
    keys = [version_key(v) for v in SUPPORTED_VERSIONS]
    assert None not in keys
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert RECOMMENDED_VERSION in SUPPORTED_VERSIONS
    assert TESTED_VERSIONS == SUPPORTED_VERSIONS


@pytest.mark.parametrize(
    ("version", "support"),
    [
        ("0.169.0", "supported"),
        ("0.171.0", "supported"),
        ("v0.171.0", "supported"),
        ("0.169.1", "supported"),  # inside the window: both ends were tested
        ("0.170.0", "supported"),
        ("0.171.0+build.7", "supported"),
        ("0.171.0-alpha.2", "supported"),  # semver: just before 0.171.0, still inside
        ("0.171.1", "newer_untested"),
        ("0.172.0-alpha.1", "newer_untested"),
        ("0.172.0", "newer_untested"),
        ("1.0.0", "newer_untested"),
        ("0.1000.0", "newer_untested"),  # numbers, not strings: 1000 > 171
        ("0.169.0-alpha.9", "older_unsupported"),
        ("0.99.0", "older_unsupported"),
        ("0.168.3", "older_unsupported"),
        ("0.0.0", "older_unsupported"),
        ("unknown", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        ("0.171", "unknown"),
        ("codex-cli 0.171.0", "unknown"),
    ],
)
def test_version_support(version: str | None, support: str) -> None:
    assert version_support(version) == support


def test_ci_tests_every_supported_version() -> None:
    """.github/workflows/test.yml has one job per supported Codex: bumping the window means bumping the matrix."""
    workflow = (Path(__file__).resolve().parents[2] / ".github" / "workflows" / "test.yml").read_text()
    assert f"codex: {json.dumps(list(SUPPORTED_VERSIONS))}" in workflow


# --- thread names from the first prompt ----------------------------------------------------------


def test_a_thread_title_is_the_prompts_first_words_on_one_line() -> None:
    assert thread_title("  fix the\n\tflaky   test ") == "fix the flaky test"
    long = "refactor " + "the billing service module " * 10
    title = thread_title(long)
    assert len(title) <= TITLE_CHARS
    assert title.endswith("…")
    assert long.startswith(title[:-1])
    assert title[-2] != " "
    assert thread_title("x" * 200) == "x" * (TITLE_CHARS - 1) + "…"  # no word to cut at
    hostile = "name\x1b[201~\r/quit\x1b]0;pwn\x07 done"
    keys = rename_keys(hostile)
    assert keys.count(PASTE_END) == 1
    assert keys.endswith(PASTE_END + b"\r")
    assert b"\x1b" not in keys[len(PASTE_START) : -len(PASTE_END) - 1]
    assert b"\r" not in keys[:-1]
