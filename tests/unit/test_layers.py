"""The tree is the architecture: every import in src/codex_mcp points down the layers docs/architecture.md draws,
and nothing below mcp/ imports the MCP SDK. Read from the source (ast), so a new import that climbs fails here
with the file and the line, before anyone has to draw the house to see it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "codex_mcp"

LAYERS: dict[str, int] = {
    "cli": 7,
    "mcp": 6,
    "control": 5,
    "conversations": 4,
    "session": 3,
    "storage": 3,
    "codex": 2,
    "terminal": 2,
    "turn": 1,
    "ending": 1,
    "errors": 1,
    "config": 1,
    "_internal": 1,
}
"""Each package (or top-level module) and its floor: a module may import its own package, or one on a lower floor."""

SDK_USERS = {"mcp", "cli"}
"""Where the MCP SDK may be imported: the boundary, and the CLI's demo (an MCP client of our own server)."""


def _unit(module: str) -> str:
    """The layer a dotted codex_mcp module belongs to ('codex_mcp.session.screen' -> 'session')."""
    return module.split(".")[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of this file, relative ones resolved."""
    parts = ["codex_mcp", *path.relative_to(SRC).with_suffix("").parts]
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # from . import a, b: each name is a module of that package
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                    continue
                found.append((node.lineno, target))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if (p.name != "__main__.py" and p.parent != SRC) or p.stem in LAYERS)


def test_every_layer_is_known() -> None:
    """A new package or top-level module must be placed on a floor before it can be checked."""
    units = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith(".")}
    units -= {"__init__", "__main__", "__pycache__", "py.typed"}
    assert units <= set(LAYERS), f"place these in LAYERS (tests/unit/test_layers.py): {sorted(units - set(LAYERS))}"


def _violations(here: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports of a module of layer `here` that climb, cross sideways, or reach the MCP SDK where they may not."""
    bad = []
    for line, module in imports:
        if module == "mcp" or module.startswith("mcp."):
            if here not in SDK_USERS:
                bad.append(f"line {line}: {module} (only {sorted(SDK_USERS)} may import the MCP SDK)")
            continue
        if not module.startswith("codex_mcp.") or module == "codex_mcp":
            continue
        there = _unit(module)
        if there != here and LAYERS.get(there, 0) >= LAYERS[here]:
            bad.append(f"line {line}: {module} ({there}, floor {LAYERS.get(there)}) from {here}, floor {LAYERS[here]}")
    return bad


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    """No import climbs to a higher floor or crosses to another package on the same floor."""
    here = path.relative_to(SRC).parts[0].removesuffix(".py")
    bad = _violations(here, _imports(path))
    assert not bad, f"{path.relative_to(SRC)} imports against the layers:\n" + "\n".join(bad)


def test_the_check_sees_a_climb() -> None:
    """What the check above would say of imports that break the layers, and that it resolves relative imports."""
    assert _violations("session", [(3, "codex_mcp.conversations.manager")])  # up
    assert _violations("session", [(3, "codex_mcp.storage.store")])  # sideways, same floor
    assert _violations("conversations", [(3, "mcp.server")])  # the SDK below the boundary
    assert not _violations("conversations", [(3, "codex_mcp.session.session"), (4, "codex_mcp.conversations.x")])
    resolved = {m for _, m in _imports(SRC / "conversations" / "manager.py")}
    assert {"codex_mcp.session.approvals", "codex_mcp.errors"} <= resolved
