"""`codex-mcp doctor`'s Codex check against the supported window, with stand-in binaries that only report a
version (tests/test_cli.py runs doctor on the real Codex)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codex_mcp import codex
from codex_mcp.config import Settings
from codex_mcp.doctor import check_codex

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform == "win32", reason="a POSIX script stands in")]


def stand_in(tmp_path: Path, says: str) -> str:
    """An executable that answers `--version` with says."""
    path = tmp_path / "codex"
    path.write_text(f"#!/bin/sh\necho {says!r}\n")
    path.chmod(0o755)
    return str(path)


async def test_a_supported_codex_is_ok(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, f"codex-cli {codex.SUPPORTED_VERSIONS[0]}")))
    assert check.level == "ok"
    assert f"supported: {codex.SUPPORTED_VERSIONS[0]} to {codex.SUPPORTED_VERSIONS[-1]}" in check.message


async def test_a_newer_codex_is_a_warning_that_names_the_tested_one(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "codex-cli 9.0.0")))
    assert check.level == "warn"
    assert "newer than the versions codex-mcp is tested with" in check.message
    assert f"npm install -g @openai/codex@{codex.RECOMMENDED_VERSION}" in check.message


async def test_an_older_codex_fails_with_the_upgrade(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "codex-cli 0.99.0")))
    assert check.level == "fail"
    assert "older than the supported versions" in check.message
    assert f"npm install -g @openai/codex@{codex.RECOMMENDED_VERSION}" in check.message


async def test_no_version_fails(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "hello")))
    assert check.level == "fail"
    assert "did not report a version" in check.message
