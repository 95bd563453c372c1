"""Files sealed at rest: what goes in comes out, and any change to the file is refused."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from smartnotes.storage.sealed import CHUNK, Sealer, SealError, is_sealed, parse_keys

OLD, NEW = os.urandom(32), os.urandom(32)


def key(name: str, value: bytes) -> str:
    return f"{name}:{base64.b64encode(value).decode()}"


def sealed(tmp_path: Path, data: bytes, sealer: Sealer | None = None) -> Path:
    target = tmp_path / "call.wav"
    (sealer or Sealer({"old": OLD})).seal_file(io.BytesIO(data), target)
    return target


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 17])
def test_what_is_sealed_opens_to_the_same_bytes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = sealed(tmp_path, data)
    assert is_sealed(path)
    if size >= 16:
        # Shorter plaintexts turn up in random ciphertext by chance; 16 bytes do not.
        assert data[:64] not in path.read_bytes()
    assert b"".join(Sealer({"old": OLD}).chunks(path)) == data
    assert not list(tmp_path.glob("*.part"))


def test_a_plain_file_is_read_as_it_is(tmp_path: Path) -> None:
    plain = tmp_path / "old.vtt"
    plain.write_bytes(b"WEBVTT\n\nhello")
    assert not is_sealed(plain)
    assert b"".join(Sealer({"old": OLD}).chunks(plain)) == b"WEBVTT\n\nhello"


def test_rotation_seals_with_the_first_key_and_opens_with_any(tmp_path: Path) -> None:
    before = sealed(tmp_path, b"said last month")
    rotated = Sealer(parse_keys(f"{key('new', NEW)},{key('old', OLD)}"))
    assert b"".join(rotated.chunks(before)) == b"said last month"
    after = tmp_path / "new.vtt"
    rotated.seal_file(io.BytesIO(b"said today"), after)
    assert b"new" in after.read_bytes()[:16]
    with pytest.raises(SealError, match="not configured"):
        list(Sealer({"old": OLD}).chunks(after))


def _refused(path: Path) -> None:
    with pytest.raises(SealError):
        list(Sealer({"old": OLD}).chunks(path))


def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(3000))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    _refused(path)


def test_a_file_cut_at_a_chunk_boundary_is_refused(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(2 * CHUNK + 5))
    raw = path.read_bytes()
    header = 7 + 1 + 3 + 8
    first = header + 4 + CHUNK + 16
    path.write_bytes(raw[:first])  # the first chunk alone, which was not the last
    _refused(path)
    path.write_bytes(raw[: len(raw) - 3])
    _refused(path)


def test_chunks_swapped_or_moved_between_files_are_refused(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 5)
    path = sealed(tmp_path, data)
    raw = path.read_bytes()
    header, size = 7 + 1 + 3 + 8, 4 + CHUNK + 16
    first, second = raw[header : header + size], raw[header + size : header + 2 * size]
    path.write_bytes(raw[:header] + second + first + raw[header + 2 * size :])
    _refused(path)
    other = tmp_path / "other.wav"
    Sealer({"old": OLD}).seal_file(io.BytesIO(data), other)
    other_raw = other.read_bytes()
    path.write_bytes(raw[:header] + other_raw[header:])  # same key, another file's chunks
    _refused(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nocolon", "id:base64"),
        ("k:not base64!", "not base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "32 bytes"),
    ],
)
def test_bad_keys_are_named(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_keys(value)


def test_a_kept_graph_download_is_sealed_and_read_back(tmp_path: Path) -> None:
    from smartnotes.meetings.media import _read_kept, _write

    sealer = Sealer({"old": OLD})
    path = tmp_path / "graph" / "recording.mp4"
    _write(path, b"the meeting's words", sealer)
    assert is_sealed(path)
    assert b"words" not in path.read_bytes()
    assert _read_kept(str(path), sealer) == b"the meeting's words"
    # A copy that cannot be opened is no copy: it is downloaded again.
    assert _read_kept(str(path), Sealer({"new": NEW})) is None
