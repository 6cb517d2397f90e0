#!/usr/bin/env bash
# gsae report renders in headless Chromium: the page has all its views in the DOM, the
# browser logs no console or load errors, and the screenshot is not blank.
set -euo pipefail
cd "$T"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "skip: chromium is not installed (Debian: chromium; make deps)"; exit 77; }
$PY3 "$TOP/tests/report/make_results.py" res
"$GSAE" report res >/dev/null
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --enable-logging=stderr --v=0)
mkdir profile1 profile2
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile1" --dump-dom \
    "file://$T/res/report.html" >dom.html 2>dom.err || { echo "FAIL: chromium --dump-dom"; tail dom.err; exit 1; }
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile2" --window-size=1280,3000 \
    --screenshot="$T/shot.png" "file://$T/res/report.html" >shot.out 2>shot.err ||
    { echo "FAIL: chromium --screenshot"; tail shot.err; exit 1; }
# The browser parsed the page: every view and chart is in the DOM.
for id in summary acts diff steer steer-json ablate ablate-json pca pca-npy harvest tables; do
    grep -q "<section id=\"$id\">" dom.html || { echo "FAIL: DOM lacks view '$id'"; exit 1; }
done
n_svg=$(grep -o '<svg' dom.html | wc -l)
[ "$n_svg" -ge 12 ] || { echo "FAIL: only $n_svg charts in the DOM"; exit 1; }
grep -qF '&lt;b&gt;rotates' dom.html || { echo "FAIL: escaped text not in the DOM"; exit 1; }
# No console messages or failed loads (the page has no scripts and loads nothing).
if grep -Ei 'CONSOLE|Uncaught|Failed to load|net::ERR' dom.err shot.err; then
    echo "FAIL: the browser reported errors for the page"; exit 1
fi
# Not blank: decode the PNG (zlib + PNG filters, no PIL needed) and count colours.
$PY3 - shot.png <<'PY'
import struct, sys, zlib
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
prev, colours, rows_with_ink, i = bytearray(stride), set(), 0, 0
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
    row = {bytes(line[k:k + 3]) for k in range(0, stride, bpp)}
    colours |= row
    rows_with_ink += len(row) > 1
    prev = line
print(f"screenshot {w}x{h}: {len(colours)} distinct colours, {rows_with_ink} rows with content")
if len(colours) < 50 or rows_with_ink < h // 4:
    sys.exit("FAIL: the screenshot looks blank")
PY
echo "report renders in Chromium: $n_svg charts, no browser errors, screenshot not blank"
