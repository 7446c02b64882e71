#!/usr/bin/env bash
# Run the built application as a user would: the command line fills a hole in a photo, and the
# editor starts (offscreen) and stays up. Prints the time to the first window.
#
#   bash packaging/test_bundle.sh [APP_FOLDER] [SECONDS_UP]    (default dist/portrait-editor, 15)
#
# Needs python3 (standard library only) to draw the mask. Uses a private HOME, so the user's
# settings and weights folder play no part.
set -euo pipefail
cd "$(dirname "$0")/.."
app=${1:-dist/portrait-editor}
seconds_up=${2:-15}
exe=$app/portrait-editor
[ -x "$exe" ] || [ -x "$exe.exe" ] || { echo "test_bundle.sh: no program at $exe (run packaging/build.sh)" >&2; exit 1; }
[ -x "$exe" ] || exe=$exe.exe
work=$(mktemp -d "${TMPDIR:-/tmp}/pe-bundle-test.XXXXXX")
editor_pid=
cleanup() {
    if [ -n "$editor_pid" ]; then kill "$editor_pid" 2> /dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config
mkdir -p "$HOME"
unset PORTRAIT_EDITOR_WEIGHTS
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== $exe ($(du -sh "$app" | cut -f1))"
[ -f "$app/BUILD-INFO.txt" ] && sed 's/^/   /' "$app/BUILD-INFO.txt"

# -- 1. the command line ---------------------------------------------------------------------------
sample=$(find "$app" -path '*portrait_editor/resources/sample.png' | head -n 1)
[ -n "$sample" ] || fail "the bundle has no resources/sample.png"
[ -n "$(find "$app" -path '*portrait_editor/resources/weights/completion.safetensors')" ] || fail "no default weights"
cp "$sample" "$work/photo.png"
python3 - "$work/mask.png" <<'PY'
# A 512 x 512 grey PNG, white (= fill) on a rectangle over the shoulder: standard library only.
import struct, sys, zlib
w = h = 512
rows = b"".join(b"\0" + bytes(255 if 300 <= y < 380 and 90 <= x < 190 else 0 for x in range(w)) for y in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$exe" --help > "$work/help.txt" || fail "--help exited with $?"
grep -q "portrait-editor complete" "$work/help.txt" || fail "--help does not mention 'complete'"
echo "== complete photo.png -m mask.png -o filled.png --device cpu"
started=$(date +%s.%N)
status=0
"$exe" complete "$work/photo.png" -m "$work/mask.png" -o "$work/filled.png" --device cpu > "$work/cli.log" 2>&1 || status=$?
sed 's/^/   | /' "$work/cli.log"
[ $status = 0 ] || fail "complete exited with $status"
cli_seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
python3 - "$work/photo.png" "$work/filled.png" <<'PY' || fail "the result is not a filled 512 x 512 photo"
import struct, sys
photo, filled = (open(p, "rb").read() for p in sys.argv[1:])
assert filled[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
size = struct.unpack(">II", filled[16:24])
assert size == (512, 512), size
assert filled != photo, "the output is the input"
print(f"   filled.png: {size[0]} x {size[1]}, {len(filled)} bytes")
PY
echo "   the command line took $cli_seconds s (start-up, torch, weights, one fill)"

# -- 2. the editor, offscreen ----------------------------------------------------------------------
echo "== QT_QPA_PLATFORM=offscreen portrait-editor photo.png, for $seconds_up s"
started=$(date +%s.%N)
QT_QPA_PLATFORM=offscreen PORTRAIT_EDITOR_REPORT_STARTUP=1 "$exe" "$work/photo.png" > "$work/editor.log" 2>&1 &
editor_pid=$!
shown=
for _ in $(seq 1 600); do
    shown=$(sed -n 's/.*first window shown at \([0-9.]*\).*/\1/p' "$work/editor.log")
    [ -n "$shown" ] && break
    kill -0 "$editor_pid" 2> /dev/null || { cat "$work/editor.log" >&2; fail "the editor exited before showing a window"; }
    sleep 0.1
done
[ -n "$shown" ] || { cat "$work/editor.log" >&2; fail "no window within 60 s"; }
first_window=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$started" "$shown")
echo "   first window after $first_window s"
ready=
for _ in $(seq 1 "$((seconds_up * 10))"); do
    ready=$(sed -n 's/.*models ready (.*) at \([0-9.]*\).*/\1/p' "$work/editor.log")
    [ -n "$ready" ] && break
    sleep 0.1
done
[ -n "$ready" ] || { cat "$work/editor.log" >&2; fail "the networks did not load within $seconds_up s"; }
models_ready=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$started" "$ready")
echo "   networks loaded (in the background) after $models_ready s"
sleep "$seconds_up"
kill -0 "$editor_pid" 2> /dev/null || { cat "$work/editor.log" >&2; fail "the editor did not stay up"; }
if grep -E "Traceback|Error|failed" "$work/editor.log" >&2; then fail "the editor logged errors"; fi
kill "$editor_pid"
wait "$editor_pid" 2> /dev/null || true
editor_pid=
echo "   still up after $seconds_up s; its output:"
sed 's/^/   | /' "$work/editor.log"

# -- 3. the desktop entry --------------------------------------------------------------------------
if [ -f "$app/portrait-editor.desktop" ] && command -v desktop-file-validate > /dev/null; then
    desktop-file-validate "$app/portrait-editor.desktop" || fail "invalid desktop entry"
fi
echo "PASS: command line ${cli_seconds} s, first window ${first_window} s, networks ready ${models_ready} s, size $(du -sh "$app" | cut -f1)"
