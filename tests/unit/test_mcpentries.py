"""Finding the entries of Codex's config that start codex-mcp itself, the way Codex reads its config (issue 10).
tests/issues/test_10_codex_as_client.py checks the resulting -c flags on the real Codex."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.codex import mcpentries, nesting
from codex_mcp.codex.argv import disable_entries, new_session_argv
from codex_mcp.codex.mcpentries import Entry, effective_config, runs_codex_mcp, script_is_ours, self_entries
from codex_mcp.codex.settings import JsonValue, LaunchOptions


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("codex-mcp", []),
        ("codex-mcp", ["--codex-bin", "/opt/codex", "--timeout", "40"]),
        ("/home/me/.local/bin/codex-mcp", []),
        ("C:\\Users\\me\\pipx\\venvs\\codex-mcp\\Scripts\\codex-mcp.exe", []),
        ("python", ["-m", "codex_mcp"]),
        ("python3.12", ["-u", "-X", "utf8", "-m", "codex_mcp", "--codex-bin", "/opt/codex"]),
        ("/usr/bin/python3", ["-mcodex_mcp"]),
        ("/venv/bin/python", ["-Im", "codex_mcp"]),
        ("py", ["-3", "-m", "codex_mcp"]),
        ("python", ["-c", "from codex_mcp.cli.main import main; main()"]),
        ("python", ["/venv/lib/python3.11/site-packages/codex_mcp/__main__.py"]),
        ("python", ["/src/codex-mcp/src/codex_mcp"]),
        ("uvx", ["codex-mcp"]),
        ("uvx", ["codex-mcp@latest", "--timeout", "30"]),
        ("uvx", ["--from", "/src/my-clone", "codex-mcp"]),
        ("uvx", ["--python", "3.12", "--from", "git+https://github.com/me/fork.git", "codex-mcp"]),
        ("uv", ["tool", "run", "codex-mcp"]),
        ("uv", ["run", "--directory", "/src/x", "python", "-m", "codex_mcp"]),
        ("pipx", ["run", "codex-mcp"]),
        ("pipx", ["run", "--spec", "/src/my-clone", "codex-mcp"]),
        ("env", ["CODEX_HOME=/x", "codex-mcp"]),
        ("/usr/bin/env", ["-u", "FOO", "python3", "-m", "codex_mcp"]),
        ("bash", ["-lc", "cd /src && exec codex-mcp --codex-bin /x"]),
        ("sh", ["-c", "exec uvx codex-mcp"]),
        ("cmd.exe", ["/c", "codex-mcp"]),
    ],
)
def test_spellings_of_codex_mcp_are_found(command: str, args: list[str]) -> None:
    assert runs_codex_mcp(command, args)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("codex", ["mcp-server"]),  # Codex's own MCP server
        ("python", ["-m", "other_mcp"]),
        ("python", ["-m", "codex_mcp_tools"]),
        ("python", ["server.py"]),
        ("python", ["-c", "import other; other.main()"]),
        ("python", []),
        ("uvx", ["mcp-server-git"]),
        ("uvx", ["codex-mcp-server"]),
        ("npx", ["-y", "codex-mcp-server"]),
        ("node", ["codex-mcp.js"]),
        ("env", ["FOO=1", "other-server"]),
        ("bash", ["-c", "echo codex-mcp-server"]),
        ("bash", ["-c", "unterminated 'quote"]),
        ("docker", ["run", "-i", "mcp/fetch"]),
    ],
)
def test_other_servers_are_not_us(command: str, args: list[str]) -> None:
    assert not runs_codex_mcp(command, args)


def test_a_script_that_is_ours_under_another_name(tmp_path: Path) -> None:
    console = tmp_path / "bin" / "codex-mcp"
    console.parent.mkdir()
    console.write_text("#!/venv/bin/python\nimport sys\nfrom codex_mcp.cli.main import main\nsys.exit(main())\n")
    link = tmp_path / "cm"
    link.symlink_to(console)
    wrapper = tmp_path / "my-wrapper"
    wrapper.write_text('#!/bin/sh\nexec codex-mcp --codex-bin /opt/codex "$@"\n')
    other = tmp_path / "other"
    other.write_text("#!/bin/sh\nexec mcp-server-git\n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF" + b"codex_mcp" * 10)
    for path in (console, link, wrapper, other, binary):
        path.chmod(0o755)
    assert script_is_ours(str(link), None)
    assert script_is_ours(str(wrapper), None)
    assert script_is_ours("my-wrapper", str(tmp_path))  # found on the PATH Codex would search
    assert not script_is_ours(str(other), None)
    assert not script_is_ours(str(binary), None)
    assert not script_is_ours("nowhere-to-be-found", str(tmp_path))
    assert runs_codex_mcp(sys.executable, [str(console)], inspect=lambda c: script_is_ours(c, None))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A CODEX_HOME whose config.toml registers codex-mcp, another server, and a disabled codex-mcp."""
    codex_home = tmp_path / "codex-home"
    write(
        codex_home / "config.toml",
        'model = "m"\n'
        '[mcp_servers.codex-mcp]\ncommand = "codex-mcp"\nargs = []\n'
        '[mcp_servers.git]\ncommand = "uvx"\nargs = ["mcp-server-git"]\n'
        '[mcp_servers.old]\ncommand = "codex-mcp"\nenabled = false\n',
    )
    return codex_home


def names(config: dict[str, object]) -> list[str]:
    return [e.name for e in self_entries(config, {"PATH": ""})]


def test_the_user_config(home: Path, tmp_path: Path) -> None:
    assert names(effective_config(home, system_dir=tmp_path / "none")) == ["codex-mcp"]


def test_a_profile_file_adds_entries(home: Path, tmp_path: Path) -> None:
    write(home / "work.config.toml", '[mcp_servers."my.server"]\ncommand = "python3"\nargs = ["-m", "codex_mcp"]\n')
    assert names(effective_config(home, profile="work", system_dir=tmp_path)) == ["codex-mcp", "my.server"]
    assert names(effective_config(home, profile="other", system_dir=tmp_path)) == ["codex-mcp"]
    # A legacy [profiles.x] table is not read: Codex 0.169+ ignores it (and rejects `-p x` with it).
    write(home / "config.toml", '[profiles.work.mcp_servers.p]\ncommand = "codex-mcp"\n')
    assert names(effective_config(home, profile="nothere", system_dir=tmp_path)) == []


def test_a_profile_can_turn_an_entry_off(home: Path, tmp_path: Path) -> None:
    write(home / "quiet.config.toml", "[mcp_servers.codex-mcp]\nenabled = false\n")
    assert names(effective_config(home, profile="quiet", system_dir=tmp_path)) == []


def test_project_layers_from_the_root_down(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    sub = root / "pkg" / "sub"
    sub.mkdir(parents=True)
    write(root / ".codex" / "config.toml", '[mcp_servers.rootcm]\ncommand = "uvx"\nargs = ["codex-mcp"]\n')
    write(sub / ".codex" / "config.toml", '[mcp_servers."sp ace"]\ncommand = "pipx"\nargs = ["run", "codex-mcp"]\n')
    write(tmp_path / ".codex" / "config.toml", '[mcp_servers.above]\ncommand = "codex-mcp"\n')  # above the root
    found = names(effective_config(home, cwd=str(sub), system_dir=tmp_path / "none"))
    assert found == ["codex-mcp", "rootcm", "sp ace"]


def test_client_overrides_apply_like_codex_applies_them(home: Path, tmp_path: Path) -> None:
    config = {
        "mcp_servers.extra": {"command": "python", "args": ["-m", "codex_mcp"]},
        "mcp_servers.codex-mcp.enabled": False,
        "mcp_servers.git.command": "codex-mcp",
    }
    assert names(effective_config(home, config=config, system_dir=tmp_path)) == ["git", "extra"]


def test_system_and_managed_layers(home: Path, tmp_path: Path) -> None:
    system = tmp_path / "etc-codex"
    write(system / "config.toml", '[mcp_servers.sys]\ncommand = "codex-mcp"\n')
    write(system / "managed_config.toml", "[mcp_servers.codex-mcp]\nenabled = false\n")
    assert names(effective_config(home, system_dir=system)) == ["sys"]


def test_a_broken_file_is_skipped(home: Path, tmp_path: Path) -> None:
    write(home / "bad.config.toml", "this is [not toml")
    assert names(effective_config(home, profile="bad", system_dir=tmp_path)) == ["codex-mcp"]


def test_an_entry_found_through_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    write(bin_dir / "cmcp", "#!/bin/sh\nexec python3 -m codex_mcp\n").chmod(0o755)
    mine: dict[str, object] = {"command": "cmcp"}
    config: dict[str, object] = {"mcp_servers": {"mine": mine, "url": {"url": "http://127.0.0.1:1/mcp"}}}
    assert [e.name for e in self_entries(config, {"PATH": str(bin_dir)})] == ["mine"]
    assert [e.name for e in self_entries(config, {"PATH": ""})] == []
    # The entry's own PATH is the one Codex searches.
    mine["env"] = {"PATH": str(bin_dir)}
    assert [e.name for e in self_entries(config, {"PATH": ""})] == ["mine"]


# --- the -c flags ----------------------------------------------------------------------------------------


def codex_config_after(user: Mapping[str, object], argv: list[str]) -> dict[str, Any]:
    """What Codex's merged config holds after the -c flags of argv, applied as Codex applies them."""
    layer: dict[str, object] = {}
    for i, item in enumerate(argv):
        if item == "-c":
            key, _, value = argv[i + 1].partition("=")
            mcpentries.apply_override(layer, key, tomllib.loads(f"v = {value}")["v"])
    merged: dict[str, Any] = {}
    mcpentries.merge(merged, user)
    mcpentries.merge(merged, layer)
    return merged


def test_plain_names_are_turned_off_with_dotted_keys() -> None:
    args = disable_entries([Entry("codex-mcp", "codex-mcp"), Entry("cm_2", "uvx")], {})
    assert args == [
        "-c",
        'mcp_servers.codex-mcp={"command" = "codex-mcp", "enabled" = false}',
        "-c",
        'mcp_servers.cm_2={"command" = "uvx", "enabled" = false}',
    ]


def test_names_needing_quotes_use_one_table_that_keeps_the_clients_overrides() -> None:
    client: dict[str, JsonValue] = {"mcp_servers.git.args": ["mcp-server-git", "--repo", "/r"], "model": "m"}
    entries = [Entry("my.server", "python3"), Entry("sp ace", "uvx"), Entry("plain", "codex-mcp")]
    argv = new_session_argv("codex", LaunchOptions(cwd="/w", config=client), entries)
    user = {
        "mcp_servers": {
            "my.server": {"command": "python3", "args": ["-m", "codex_mcp"]},
            "sp ace": {"command": "uvx", "args": ["codex-mcp"]},
            "plain": {"command": "codex-mcp"},
            "git": {"command": "uvx", "args": ["mcp-server-git"]},
        }
    }
    merged = codex_config_after(user, argv)
    servers = merged["mcp_servers"]
    assert isinstance(servers, dict)
    assert servers["my.server"] == {"command": "python3", "args": ["-m", "codex_mcp"], "enabled": False}
    assert servers["sp ace"] == {"command": "uvx", "args": ["codex-mcp"], "enabled": False}
    assert servers["plain"] == {"command": "codex-mcp", "enabled": False}
    assert servers["git"] == {"command": "uvx", "args": ["mcp-server-git", "--repo", "/r"]}
    assert merged["model"] == "m"


def test_the_flags_come_after_the_clients_overrides() -> None:
    client: dict[str, JsonValue] = {"mcp_servers.codex-mcp.enabled": True}
    argv = new_session_argv("codex", LaunchOptions(cwd="/w", config=client), [Entry("codex-mcp", "codex-mcp")])
    merged = codex_config_after({"mcp_servers": {"codex-mcp": {"command": "codex-mcp"}}}, argv)
    assert merged["mcp_servers"] == {"codex-mcp": {"command": "codex-mcp", "enabled": False}}


def test_an_entry_only_we_thought_was_there_stays_valid() -> None:
    # Codex refuses to start on an entry with no command ("invalid transport"): ours always carries one.
    merged = codex_config_after({}, disable_entries([Entry("ghost", "codex-mcp")], {}))
    assert merged["mcp_servers"] == {"ghost": {"command": "codex-mcp", "enabled": False}}


def test_no_entries_no_flags() -> None:
    assert disable_entries([], {"mcp_servers.x.command": "y"}) == []


def test_the_entry_a_nested_server_was_started_by_is_found_from_its_command_line(tmp_path: Path) -> None:
    config: dict[str, object] = {
        "mcp_servers": {
            "tools": {"command": "npx", "args": ["-y", "@acme/codex-tools"]},
            "other": {"command": "npx", "args": ["-y", "@acme/other"]},
            "off": {"command": "npx", "args": ["-y", "@acme/codex-tools"], "enabled": False},
            "renamed": {"command": "/opt/bin/cdx-bridge", "args": []},
        }
    }
    # npx shows as its interpreter and the script, then the entry's args; a renamed binary as itself.
    npx = ["node", "/usr/local/bin/npx", "-y", "@acme/codex-tools"]  # a #! script: the interpreter, its path
    assert mcpentries.entry_started_as(config, npx) == "tools"
    assert mcpentries.entry_started_as(config, ["/opt/bin/cdx-bridge"]) == "renamed"
    assert mcpentries.entry_started_as(config, ["python3", "-m", "something_else"]) is None
    assert mcpentries.entry_started_as(config, []) is None
    learned = tmp_path / "learned.json"
    mcpentries.note_learned(learned, config, "tools")
    mcpentries.note_learned(learned, config, "tools")  # once
    assert mcpentries.read_learned(learned) == [("tools", "npx", ["-y", "@acme/codex-tools"])]
    env = {"PATH": "/usr/bin", nesting.LEARNED_ENV: str(learned)}
    assert [e.name for e in mcpentries.self_entries(config, env)] == ["tools"]
    # Edited since: not the entry that was learned any more.
    edited = {"mcp_servers": {"tools": {"command": "npx", "args": ["-y", "@acme/codex-tools@2"]}}}
    assert mcpentries.self_entries(edited, env) == []
    learned.write_text("{ broken")
    assert mcpentries.read_learned(learned) == []
