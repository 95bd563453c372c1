"""Transcripts and recordings encrypted at rest (AES-256-GCM), when keys are configured.

``SMARTNOTES_STORAGE_KEYS`` holds named keys, ``id:base64`` (32 bytes each), comma-separated;
the first seals new files, every one opens files. Rotation: put the new key first and keep the
old one until every file sealed with it has gone (stored transcripts live
``SMARTNOTES_RETENTION__TRANSCRIPT_DAYS``, 30 by default), then drop it.

A sealed file is ``SNSEAL1`` | key id length (1 byte) | key id | a random 8-byte file prefix,
then chunks of up to 1 MiB of plaintext, each ``length (4 bytes) | ciphertext + tag``. A
chunk's nonce is the file prefix and its index; its associated data is the header, its index
and whether it is the last one, so chunks cannot be reordered, dropped, moved to another file
or the file cut short without the open failing. Recordings of hundreds of megabytes are sealed
and opened a chunk at a time, never whole in memory. Files without the magic are read as
they are (written before keys were configured).
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SNSEAL1"
CHUNK = 1024 * 1024
_LENGTH = struct.Struct(">I")
_TAG = 16


class SealError(Exception):
    """A sealed file cannot be opened: unknown key, or altered or cut short."""


def parse_keys(value: str) -> dict[str, bytes]:
    """``id:base64[,id:base64...]`` → {id: key}, in order; a ValueError names a bad entry."""
    keys: dict[str, bytes] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id or len(key_id.encode()) > 64:
            raise ValueError("a storage key is id:base64 (an id of 1 to 64 characters)")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ValueError(f"storage key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise ValueError(f"storage key {key_id!r} must be 32 bytes (AES-256)")
        keys[key_id] = key
    return keys


class Sealer:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self.keys = keys
        self.current = next(iter(keys))

    def seal_file(self, source: BinaryIO, target: Path) -> None:
        """Write ``source`` sealed to ``target`` (through a ``.part`` file: never half-written)."""
        key_id = self.current.encode()
        header = MAGIC + bytes([len(key_id)]) + key_id + os.urandom(8)
        aead = AESGCM(self.keys[self.current])
        partial = target.with_suffix(target.suffix + ".part")
        with partial.open("wb") as out:
            out.write(header)
            index = 0
            chunk = source.read(CHUNK)
            while True:
                following = source.read(CHUNK) if chunk else b""
                last = not following
                sealed = aead.encrypt(_nonce(header, index), chunk, _aad(header, index, last))
                out.write(_LENGTH.pack(len(sealed)) + sealed)
                if last:
                    break
                chunk, index = following, index + 1
        partial.replace(target)

    def chunks(self, path: Path) -> Iterator[bytes]:
        """The plaintext of ``path`` a chunk at a time (a file as it is if not sealed)."""
        with path.open("rb") as handle:
            magic = handle.read(len(MAGIC))
            if magic != MAGIC:
                handle.seek(0)
                while block := handle.read(CHUNK):
                    yield block
                return
            size = handle.read(1)
            key_id = handle.read(size[0]) if size else b""
            prefix = handle.read(8)
            header = magic + size + key_id + prefix
            key = self.keys.get(key_id.decode(errors="replace"))
            if key is None:
                raise SealError(f"{path.name} is sealed with a key not configured ({key_id!r})")
            aead = AESGCM(key)
            index = 0
            while True:
                length = handle.read(_LENGTH.size)
                if len(length) != _LENGTH.size:
                    raise SealError(f"{path.name} is cut short")
                sealed = handle.read(_LENGTH.unpack(length)[0])
                last = handle.peek(1)[:1] == b"" if hasattr(handle, "peek") else False
                try:
                    yield aead.decrypt(_nonce(header, index), sealed, _aad(header, index, last))
                except InvalidTag:
                    raise SealError(f"{path.name} was altered or cut short") from None
                if last:
                    return
                index += 1


def sealer_for(keys: str | None) -> Sealer | None:
    """The sealer of ``SMARTNOTES_STORAGE_KEYS``, or None (files are kept as they are)."""
    return Sealer(parse_keys(keys)) if keys else None


def is_sealed(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _nonce(header: bytes, index: int) -> bytes:
    return header[-8:] + struct.pack(">I", index)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)
