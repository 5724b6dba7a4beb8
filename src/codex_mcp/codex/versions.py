"""The Codex releases codex-mcp supports, and where any other release stands against them."""

from __future__ import annotations

import re
from typing import Literal

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.169.0", "0.171.0")
"""The supported window: Codex releases the whole test suite passes on, oldest first (0.170 was never published).
Its ends bound the window; see version_support."""
RECOMMENDED_VERSION = "0.171.0"
"""The one to install: scripts/setup.sh pins it, and install hints name it."""
TESTED_VERSIONS = SUPPORTED_VERSIONS
"""The old name of SUPPORTED_VERSIONS, kept for callers not yet moved to version_support."""

VersionSupport = Literal["supported", "newer_untested", "older_unsupported", "unknown"]
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


def version_key(version: str) -> tuple[int, int, int, int] | None:
    """A sortable key for a version like '0.171.0' (semver order: a pre-release such as '0.171.0-alpha.2'
    comes just before its release; build metadata after '+' is ignored), or None if it is not one."""
    m = _VERSION_RE.fullmatch(version.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if m.group(4) else 1


def version_support(version: str | None) -> VersionSupport:
    """Where a Codex version stands against the supported window, comparing numerically (0.99.0 < 0.171.0).

    The window is the closed range from the oldest to the newest of SUPPORTED_VERSIONS: a release inside it
    that we did not test by itself (a patch release such as 0.169.1) counts as supported, since what we rely
    on holds at both ends. Newer than the window: newer_untested (it probably works; docs/compatibility.md
    says how to check and add it). Older: older_unsupported (it may lack flags or screens we depend on).
    No version, or one we cannot read: unknown."""
    key = version_key(version) if version else None
    if key is None:
        return "unknown"
    window = sorted(k for k in map(version_key, SUPPORTED_VERSIONS) if k is not None)
    if key < window[0]:
        return "older_unsupported"
    if key > window[-1]:
        return "newer_untested"
    return "supported"
