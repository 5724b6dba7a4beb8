"""Images a client sends with a prompt: checked before anything reaches Codex (an absolute path to a readable PNG,
JPEG, GIF or WebP file of at most MAX_IMAGE_BYTES), then attached the way a person attaches one in Codex's TUI:
the path pasted on its own, which the composer recognises and turns into an image attachment for the next
submission. Codex sends it to the model as an ``input_image``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidInput

MAX_IMAGES = 10
MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""What one image may weigh (the Responses API takes up to 20 MB per image)."""

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def _kind(head: bytes) -> str | None:
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_images(paths: Sequence[str] | None) -> list[str]:
    """The images as absolute, resolved paths; InvalidInput naming the first one that cannot be sent, and why."""
    if not paths:
        return []
    if len(paths) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per prompt, not {len(paths)}")
    checked = []
    for raw in paths:
        shown = raw if len(raw) <= 200 else raw[:200] + "…"
        if not raw.strip() or any(c < " " or "\x7f" <= c <= "\x9f" for c in raw):
            raise InvalidInput(f"image {shown!r} is not a usable path: give the absolute path of an image file")
        path = Path(raw).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"image {shown!r} is not an absolute path: give the full path of the image file")
        try:
            resolved = path.resolve(strict=True)
            size = resolved.stat().st_size
            if not resolved.is_file():
                raise InvalidInput(f"image {shown!r} is not a file")
            with open(resolved, "rb") as f:
                head = f.read(16)
        except FileNotFoundError:
            raise InvalidInput(f"image {shown!r} does not exist") from None
        except (OSError, RuntimeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise InvalidInput(f"image {shown!r} cannot be read ({why})") from None
        if _kind(head) is None:
            raise InvalidInput(f"image {shown!r} is not a PNG, JPEG, GIF or WebP image")
        if size > MAX_IMAGE_BYTES:
            raise InvalidInput(f"image {shown!r} is {size} bytes; an image may be at most {MAX_IMAGE_BYTES} bytes")
        checked.append(os.fspath(resolved))
    return checked
