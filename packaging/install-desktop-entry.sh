#!/usr/bin/env bash
# Add Portrait Editor to this user's application menu (Linux): the desktop entry and the icon,
# pointing at the program in this folder. Run it again after moving the folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
apps=${XDG_DATA_HOME:-$HOME/.local/share}/applications
icons=${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps
mkdir -p "$apps" "$icons"
cp "$here/portrait-editor.png" "$icons/portrait-editor.png"
sed -e "s|^Exec=portrait-editor|Exec=\"$here/portrait-editor\"|" \
    -e "s|^Icon=portrait-editor|Icon=$icons/portrait-editor.png|" \
    "$here/portrait-editor.desktop" > "$apps/portrait-editor.desktop"
command -v update-desktop-database > /dev/null && update-desktop-database -q "$apps" || true
echo "installed $apps/portrait-editor.desktop"
