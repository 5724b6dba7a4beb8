"""Images a client sends with a prompt: what is checked before anything reaches Codex, and the bytes that attach
them the way a person does (the path pasted on its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_mcp.codex.images import MAX_IMAGE_BYTES, MAX_IMAGES, check_images
from codex_mcp.codex.keys import PASTE_END, PASTE_START, encode_images
from codex_mcp.errors import InvalidInput

HEADS = {
    "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 8,
    "jpeg": b"\xff\xd8\xff\xe0" + b"\0" * 12,
    "gif": b"GIF89a" + b"\0" * 10,
    "webp": b"RIFF\0\0\0\0WEBPVP8 ",
}


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_each_image_kind_is_accepted_and_resolved(tmp_path: Path, kind: str) -> None:
    (tmp_path / "real").mkdir()
    image = tmp_path / "real" / f"a.{kind}"
    image.write_bytes(HEADS[kind])
    link = tmp_path / f"link.{kind}"
    link.symlink_to(image)
    assert check_images([str(link)]) == [str(image)]


def test_nothing_given_is_nothing_to_attach() -> None:
    assert check_images(None) == []
    assert check_images([]) == []


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.txt", b"plain text", "is not a PNG, JPEG, GIF or WebP image"),
        ("empty.png", b"", "is not a PNG, JPEG, GIF or WebP image"),
        ("fake.png", b"<svg/>", "is not a PNG, JPEG, GIF or WebP image"),
    ],
)
def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=expected):
        check_images([str(path)])


def test_paths_that_cannot_be_sent_are_refused_with_the_reason(tmp_path: Path) -> None:
    cases = {
        "relative.png": "not an absolute path",
        str(tmp_path / "missing.png"): "does not exist",
        str(tmp_path): "is not a file",
        "": "is not a usable path",
        "/tmp/a\x1b[2J.png": "is not a usable path",
    }
    for path, expected in cases.items():
        with pytest.raises(InvalidInput, match=expected):
            check_images([path])


def test_an_oversized_image_and_too_many_images_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.write(HEADS["png"])
        f.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.raises(InvalidInput, match=f"at most {MAX_IMAGE_BYTES} bytes"):
        check_images([str(huge)])
    small = tmp_path / "small.png"
    small.write_bytes(HEADS["png"])
    with pytest.raises(InvalidInput, match=f"at most {MAX_IMAGES} images"):
        check_images([str(small)] * (MAX_IMAGES + 1))


def test_images_are_attached_as_pasted_paths_each_on_its_own() -> None:
    attached = encode_images(["/a/b.png", "/c d.jpg"])
    assert attached == PASTE_START + b"/a/b.png" + PASTE_END + PASTE_START + b"/c d.jpg" + PASTE_END
    assert encode_images([]) == b""
