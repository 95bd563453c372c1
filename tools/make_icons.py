"""Draws the Teams app icons, manifest/color.png and manifest/outline.png.

Usage: python tools/make_icons.py [FOLDER]   (default: the repository's manifest/ folder)

The mark is a speech bubble holding lines of notes. The colour icon (192x192) is a white bubble
on the app's accent colour, read from manifest/template.json so the two never drift apart; the
outline icon (32x32) is the bubble drawn in white on a transparent background, as Teams asks.

Shapes are signed distance functions sampled once per pixel centre, which anti-aliases the edges
without supersampling. Everything is integer-exact or correctly rounded float arithmetic and the
PNGs are written by hand (no Pillow), so the same script gives the same bytes on any machine
with the reference zlib.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "manifest"

Point = tuple[float, float]
Shape = Callable[[float, float], float]  # signed distance in pixels, negative inside

WHITE = (255, 255, 255)


def rounded_rect(left: float, top: float, right: float, bottom: float, radius: float) -> Shape:
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half_w, half_h = (right - left) / 2 - radius, (bottom - top) / 2 - radius

    def distance(x: float, y: float) -> float:
        qx, qy = abs(x - cx) - half_w, abs(y - cy) - half_h
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def polygon(points: Sequence[Point]) -> Shape:
    def distance(x: float, y: float) -> float:
        nearest = math.inf
        inside = False
        for (ax, ay), (bx, by) in zip(points, [*points[1:], points[0]], strict=True):
            ex, ey = bx - ax, by - ay
            wx, wy = x - ax, y - ay
            t = min(max((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0), 1.0)
            nearest = min(nearest, math.hypot(wx - ex * t, wy - ey * t))
            if (ay > y) != (by > y) and x < ax + (y - ay) * ex / ey:
                inside = not inside
        return -nearest if inside else nearest

    return distance


def capsule(x0: float, x1: float, y: float, radius: float) -> Shape:
    """A horizontal bar with round ends: one line of text."""

    def distance(x: float, py: float) -> float:
        return math.hypot(x - min(max(x, x0), x1), py - y) - radius

    return distance


def union(*shapes: Shape) -> Shape:
    return lambda x, y: min(shape(x, y) for shape in shapes)


def coverage(distance: float) -> float:
    """How much of a pixel an edge at this distance from its centre covers (one-pixel ramp)."""
    return min(max(0.5 - distance, 0.0), 1.0)


def color_icon(accent: tuple[int, int, int]) -> list[bytes]:
    # The tail carries the bubble's left side down to a point (its bottom-left corner).
    bubble = union(rounded_rect(40, 44, 152, 126, 20), polygon([(40, 100), (80, 100), (40, 150)]))
    lines = union(capsule(66, 126, 68, 5), capsule(66, 126, 85, 5), capsule(66, 104, 102, 5))
    rows = []
    for py in range(192):
        row = bytearray()
        for px in range(192):
            x, y = px + 0.5, py + 0.5
            white = coverage(bubble(x, y)) * (1.0 - coverage(lines(x, y)))
            row += bytes(round(a + (w - a) * white) for a, w in zip(accent, WHITE, strict=True))
        rows.append(bytes(row))
    return rows


def outline_icon() -> list[bytes]:
    # The tail starts well inside the body: the stroke follows the union's outer edge, and a
    # tail edge close to the body's would leave a seam.
    bubble = union(rounded_rect(4, 5, 28, 22, 5), polygon([(4, 14), (13, 14), (4, 28)]))
    lines = union(capsule(10, 22, 11, 1), capsule(10, 18, 16, 1))
    stroke_half_width = 1.0
    rows = []
    for py in range(32):
        row = bytearray()
        for px in range(32):
            x, y = px + 0.5, py + 0.5
            edge = coverage(abs(bubble(x, y)) - stroke_half_width)
            alpha = max(edge, coverage(lines(x, y)))
            # Transparent pixels stay white too: Teams wants white and transparent only.
            row += bytes((*WHITE, round(alpha * 255)))
        rows.append(bytes(row))
    return rows


def png(rows: list[bytes], *, alpha: bool) -> bytes:
    height, width = len(rows), len(rows[0]) // (4 if alpha else 3)
    color_type = 6 if alpha else 2  # RGBA or RGB, 8 bits a channel

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    pixels = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels, 9))
        + chunk(b"IEND", b"")
    )


def accent_color() -> tuple[int, int, int]:
    template = json.loads((MANIFEST_DIR / "template.json").read_text(encoding="utf-8"))
    value: str = template["accentColor"]
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        sys.stderr.write("usage: python tools/make_icons.py [FOLDER]\n")
        return 2
    folder = Path(argv[0]) if argv else MANIFEST_DIR
    icons = {
        "color.png": png(color_icon(accent_color()), alpha=False),
        "outline.png": png(outline_icon(), alpha=True),
    }
    for name, data in icons.items():
        (folder / name).write_bytes(data)
        sys.stdout.write(f"wrote {folder / name} ({len(data)} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
