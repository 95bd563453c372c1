"""A multipart/form-data body split into its parts as it is read, file parts straight to disk.

A call's audio may be hundreds of megabytes: it goes from the (already verified) request body to
a file in chunks, so a signed upload costs the service no more memory than an unsigned one.
Each part has its own limit, enforced while reading; a part with no limit is refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from aiohttp import web
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from smartnotes.runs.media import MediaError
from smartnotes.runs.review import InvalidError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

CHUNK = 1 << 16
# Far more header than a form part needs; a body of endless headers is refused at this size.
MAX_HEADER_BYTES = 16 * 1024


@dataclass
class Part:
    """One part: kept in memory (``data``) or, for the names asked for, in a file (``path``)."""

    name: str
    content_type: str
    size: int = 0
    data: bytearray = field(default_factory=bytearray)
    path: Path | None = None

    def read(self) -> bytes:
        return self.path.read_bytes() if self.path is not None else bytes(self.data)


def split(
    content_type: str,
    body: IO[bytes],
    *,
    limits: Mapping[str, int],
    to_disk: frozenset[str],
    directory: Path,
) -> dict[str, Part]:
    """The parts of ``body`` by name. ``limits`` names the parts accepted and their largest
    size; the parts in ``to_disk`` are written to files in ``directory``, which the caller
    owns (and removes)."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise web.HTTPBadRequest(reason="malformed multipart body: no boundary")
    reader = _Reader(limits, to_disk, directory)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        try:
            while chunk := body.read(CHUNK):
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError:
            raise web.HTTPBadRequest(reason="malformed multipart body") from None
        if not reader.ended:
            raise web.HTTPBadRequest(reason="malformed multipart body: it ends early")
    finally:
        reader.close()
    return reader.parts


class _Reader:
    def __init__(self, limits: Mapping[str, int], to_disk: frozenset[str], directory: Path):
        self.limits = limits
        self.to_disk = to_disk
        self.directory = directory
        self.parts: dict[str, Part] = {}
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._header_bytes = 0
        self._part: Part | None = None
        self._file: BinaryIO | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_end": self._finished,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0
        self._part = None

    def _grow(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise web.HTTPBadRequest(reason="a multipart part's headers are too large")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        raw_name = options.get(b"name")
        if disposition != b"form-data" or not raw_name:
            raise web.HTTPBadRequest(reason="a multipart part has no name")
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(reason="a multipart part's name is not UTF-8") from None
        if name not in self.limits:
            allowed = ", ".join(repr(n) for n in self.limits)
            raise InvalidError(name[:64], f"unknown part; send {allowed}")
        if name in self.parts:
            raise InvalidError(name, "sent twice")
        kind, _ = parse_options_header(self._headers.get(b"content-type", b"text/plain"))
        part = Part(name, kind.decode("latin-1"))
        if name in self.to_disk:
            part.path = self.directory / name
            self._file = part.path.open("wb")
        self.parts[name] = self._part = part

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None:
            raise web.HTTPBadRequest(reason="malformed multipart body")
        part.size += end - start
        limit = self.limits[part.name]
        if part.size > limit:
            raise MediaError(413, part.name, f"larger than {limit} bytes")
        if self._file is not None:
            self._file.write(data[start:end])
        else:
            part.data += data[start:end]

    def _end(self) -> None:
        self.close()
        self._part = None

    def _finished(self) -> None:
        self.ended = True
