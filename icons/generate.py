#!/usr/bin/env python3
"""Draws claude-memory's icons (standard library only) into this directory.

The shape is described by signed distances, so every size is drawn directly
(no down-scaling blur): an indigo rounded square holding a white speech
bubble with three lines of "remembered" text. Run it again after changing the
drawing; the PNG, ICO and ICNS files it writes are committed.
"""

import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKGROUND = (79, 70, 229)  # indigo
INK = (255, 255, 255)
LINES = (79, 70, 229)


def rounded_box(x, y, cx, cy, hw, hh, r):
    """Signed distance from (x, y) to a rounded rectangle (negative inside)."""
    qx, qy = abs(x - cx) - hw + r, abs(y - cy) - hh + r
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - r


def triangle(x, y, a, b, c):
    """Negative inside the triangle abc (a crude distance, fine for coverage)."""
    def edge(p, q):
        ex, ey = q[0] - p[0], q[1] - p[1]
        return ((x - p[0]) * ey - (y - p[1]) * ex) / math.hypot(ex, ey)
    return max(edge(a, b), edge(b, c), edge(c, a))


def colour_at(x, y):
    """The RGBA colour at (x, y) in the unit square, or None if transparent."""
    if rounded_box(x, y, 0.5, 0.5, 0.47, 0.47, 0.2) > 0:
        return None
    bubble = min(
        rounded_box(x, y, 0.5, 0.45, 0.3, 0.22, 0.08),
        triangle(x, y, (0.30, 0.60), (0.44, 0.60), (0.28, 0.80)),
    )
    if bubble > 0:
        return BACKGROUND
    for cy, hw in ((0.36, 0.19), (0.45, 0.19), (0.54, 0.12)):
        if rounded_box(x, y, 0.5 - (0.19 - hw), cy, hw, 0.028, 0.028) <= 0:
            return LINES
    return INK


def render(size, samples=4):
    """RGBA rows of a size × size icon, `samples`² coverage samples per pixel."""
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = colour_at((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size)
                    if c is not None:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 1
            n = acc[3]
            if n == 0:
                row += b"\0\0\0\0"
            else:
                row += bytes((acc[0] // n, acc[1] // n, acc[2] // n, 255 * n // samples**2))
        rows.append(bytes(row))
    return rows


def png(rows):
    """A PNG file (8-bit RGBA, no filtering) holding `rows`."""
    size = len(rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + r for r in rows)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def ico(images):
    """A Windows ICO holding PNG images (allowed since Windows Vista)."""
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in images:
        dim = 0 if size >= 256 else size
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(data for _, data in images)


def icns(images):
    """A macOS ICNS holding PNG images under their OSType codes."""
    body = b"".join(kind + struct.pack(">I", len(data) + 8) + data for kind, data in images)
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main():
    pngs = {size: png(render(size)) for size in (16, 32, 64, 128, 256, 512)}
    (HERE / "32x32.png").write_bytes(pngs[32])
    (HERE / "128x128.png").write_bytes(pngs[128])
    (HERE / "128x128@2x.png").write_bytes(pngs[256])
    (HERE / "icon.png").write_bytes(pngs[512])
    (HERE / "icon.ico").write_bytes(ico([(s, pngs[s]) for s in (16, 32, 64, 128, 256)]))
    (HERE / "icon.icns").write_bytes(icns([(b"icp4", pngs[16]), (b"icp5", pngs[32]), (b"ic07", pngs[128]),
                                           (b"ic08", pngs[256]), (b"ic09", pngs[512])]))


if __name__ == "__main__":
    main()
