#!/usr/bin/env python3
"""Decodes a PNG screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes) with
zlib alone, and reports whether it is blank.

  png_check.py stats SHOT.png BAND_PX        one line per horizontal band: y, non-white %, colours
  png_check.py colours SHOT.png #rrggbb ...  how many pixels have each exact colour
  png_check.py crop SHOT.png Y0 Y1 OUT.png   a horizontal slice, for looking at by eye
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit(f'{path}: not a PNG')
    pos, idat, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or colour not in (2, 6) or interlace:
                sys.exit(f'{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})')
            bpp = 3 if colour == 2 else 4
        elif kind == b'IDAT':
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b''.join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def pixels(row, bpp):
    return [row[i:i + 3] for i in range(0, len(row), bpp)]


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    width, height, bpp, rows = decode(path)
    if cmd == 'stats':
        band = int(sys.argv[3])
        for y0 in range(0, height, band):
            colours, inked, total = set(), 0, 0
            for row in rows[y0:y0 + band]:
                for p in pixels(row, bpp):
                    total += 1
                    if p != b'\xff\xff\xff':
                        inked += 1
                        colours.add(bytes(p))
            print(f'{y0} {100.0 * inked / max(total, 1):.2f} {len(colours)}')
    elif cmd == 'colours':
        want = {bytes.fromhex(c.lstrip('#')): 0 for c in sys.argv[3:]}
        for row in rows:
            for p in pixels(row, bpp):
                if p in want:
                    want[p] += 1
        for c, n in want.items():
            print(f'#{c.hex()} {n}')
    elif cmd == 'crop':
        y0, y1, out = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        body = b''.join(b'\x00' + r for r in rows[y0:y1])
        def chunk(kind, data):
            return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
        png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, y1 - y0, 8, 2 if bpp == 3 else 6, 0, 0, 0))
        png += chunk(b'IDAT', zlib.compress(body, 9)) + chunk(b'IEND', b'')
        open(out, 'wb').write(png)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
