#!/usr/bin/env bash
# Build the one-folder application: dist/portrait-editor/portrait-editor (the editor, and
# `portrait-editor complete ...`), with the default weights, the icon and the desktop entry.
#
#   bash packaging/build.sh [--cpu | --gpu]
#
#   --cpu (default) torch's CPU build, from https://download.pytorch.org/whl/cpu when that index
#                   answers; otherwise the default index's torch (a CUDA build on Linux), with the
#                   CUDA libraries torch does not load at start-up left out of the bundle.
#   --gpu           the default index's torch with all its CUDA libraries.
#
# Environment: PE_TORCH_VARIANT=cpu|gpu (same as the flags), PYTHON (the interpreter, 3.10+;
# default python3), PE_BUILD_VENV (the build environment; default
# ${TMPDIR:-/tmp}/portrait-editor-build-<variant>, reused by later builds),
# PE_TORCH_SPEC (e.g. "torch==2.13.0+cpu torchvision==0.28.0": install exactly these).
# The build records which torch it used in dist/portrait-editor/BUILD-INFO.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
variant=${PE_TORCH_VARIANT:-cpu}
for arg in "$@"; do
    case $arg in
        --cpu) variant=cpu ;;
        --gpu) variant=gpu ;;
        -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done
case $variant in cpu | gpu) ;; *) echo "build.sh: PE_TORCH_VARIANT must be cpu or gpu" >&2; exit 2 ;; esac

say() { echo "build.sh: $*" >&2; }
started=$(date +%s)
venv=${PE_BUILD_VENV:-${TMPDIR:-/tmp}/portrait-editor-build-$variant}
if [ ! -d "$venv" ]; then
    say "creating the build environment $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
py=$venv/bin/python
[ -x "$py" ] || py=$venv/Scripts/python.exe  # Windows (Git Bash)
pip() { "$py" -m pip "$@"; }

# -- torch ---------------------------------------------------------------------------------------
cpu_index=https://download.pytorch.org/whl/cpu
source_note=$venv/torch-source.txt  # where this environment's torch came from, for BUILD-INFO.txt
if [ -z "${PE_TORCH_SPEC:-}" ] && [ -f "$source_note" ] && "$py" -c "import torch, torchvision" 2> /dev/null; then
    torch_source=$(cat "$source_note")
    say "reusing the torch of $venv (from $torch_source)"
elif [ -n "${PE_TORCH_SPEC:-}" ]; then
    read -r -a torch_packages <<< "$PE_TORCH_SPEC"
    torch_source="PE_TORCH_SPEC ($PE_TORCH_SPEC)"
    pip install "${torch_packages[@]}"
elif [ "$variant" = cpu ] && [ "$(uname -s)" != Darwin ]; then
    # The CPU index alone (no mirror, no local wheels from pip's configuration), so that a CUDA
    # build from elsewhere cannot pass for the CPU build.
    if env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
        "$py" -m pip install --retries 1 --timeout 20 --index-url "$cpu_index" torch torchvision; then
        torch_source="the CPU index ($cpu_index)"
    else
        say "the CPU index ($cpu_index) did not answer; falling back to pip's default index"
        torch_source="pip's default index (the CPU index $cpu_index could not be reached)"
        pip install torch torchvision
    fi
else
    torch_source="pip's default index"
    pip install torch torchvision
fi
echo "$torch_source" > "$source_note"
torch_build=$("$py" -c "import torch; print(torch.__version__, 'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU only')")
say "torch $torch_build from $torch_source"

# -- the rest: pyproject's dependencies (Qt without its add-ons) and PyInstaller ------------------
mapfile -t deps < <("$py" - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    name = re.split(r"[<>=!~ \[;]", dep, maxsplit=1)[0].lower()
    if name in ("torch", "torchvision"):
        continue
    # The editor uses QtCore, QtGui and QtWidgets only: PySide6-Essentials, not the 1 GB add-ons.
    print(dep.replace("PySide6", "PySide6-Essentials", 1) if name == "pyside6" else dep)
PY
)
pip install "${deps[@]}" "pyinstaller>=6.10"

# -- the bundle ----------------------------------------------------------------------------------
drop_cuda=0
if [ "$variant" = cpu ] && "$py" -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)"; then
    drop_cuda=1
fi
rm -rf dist/portrait-editor
PE_DROP_CUDA=$drop_cuda "$py" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/portrait_editor.spec

app=dist/portrait-editor
if [ "$(uname -s)" = Linux ]; then
    # A menu entry and icon beside the program: install-desktop-entry.sh points them at it.
    cp resources/portrait-editor.png "$app/portrait-editor.png"
    cp resources/portrait-editor.desktop "$app/portrait-editor.desktop"
    cp packaging/install-desktop-entry.sh "$app/install-desktop-entry.sh"
fi
seconds=$(( $(date +%s) - started ))
size=$(du -sh "$app" | cut -f1)
{
    echo "Portrait Editor $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -sm) in ${seconds} s"
    echo "variant: $variant"
    echo "torch: $torch_build, from $torch_source"
    if [ $drop_cuda = 1 ]; then echo "CUDA libraries not loaded at start-up: left out (CPU only)"; fi
    echo "size: $size"
} > "$app/BUILD-INFO.txt"
cat "$app/BUILD-INFO.txt" >&2
say "done: $app/portrait-editor (test it with: bash packaging/test_bundle.sh)"
