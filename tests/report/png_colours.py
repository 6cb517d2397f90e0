"""Decode an 8-bit RGB(A) PNG (zlib and the PNG row filters; no PIL needed) and report its
colours: usage png_colours.py PNG [--shaded]. Without --shaded: fails when the image looks
blank (under 50 colours or under a quarter of the rows with content). With --shaded: fails
unless the image holds the dashboard's token shading, rgba(255,128,0,a) over white: pixels with
red 255, green 255-127a and blue 255-255a for at least 5 distinct a and 2000 pixels in all."""
import struct
import sys
import zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, []
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat.append(body)
assert depth == 8 and ctype in (2, 6), f"unexpected PNG depth {depth} colour type {ctype}"
bpp = 4 if ctype == 6 else 3
raw, stride = zlib.decompress(b"".join(idat)), w * bpp
prev, colours, rows_with_ink, i = bytearray(stride), {}, 0, 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + ((a + b) >> 1)) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    row = set()
    for k in range(0, stride, bpp):
        px = bytes(line[k:k + 3])
        row.add(px)
        colours[px] = colours.get(px, 0) + 1
    rows_with_ink += len(row) > 1
    prev = line
print(f"screenshot {w}x{h}: {len(colours)} distinct colours, {rows_with_ink} rows with content")
if "--shaded" not in sys.argv:
    if len(colours) < 50 or rows_with_ink < h // 4:
        sys.exit("FAIL: the screenshot looks blank")
    sys.exit(0)
# Token shading over white: 255, 255-127a, 255-255a (a > 0.05), within rounding.
shades, n_px = set(), 0
for (r, g, b), n in colours.items():
    if r < 253 or b > 242:
        continue
    a = (255 - b) / 255
    if abs(g - (255 - 127 * a)) <= 3:
        shades.add(round(a * 20))
        n_px += n
print(f"token shading: {n_px} pixels in {len(shades)} shades")
if len(shades) < 5 or n_px < 2000:
    sys.exit("FAIL: the screenshot shows no shaded tokens")
