#!/usr/bin/env bash
# Regenerate the documentation's pictures of the demo: the quick-look and the
# top of the campaign report as headless Chromium shows it. Run from the
# repository root in an environment where rtsgeo is installed, with Debian's
# chromium (apt-get install -y chromium). The demo runs in a new temporary
# folder, so the pictures show its relative paths, not this machine's.
set -euo pipefail
images="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
rtsgeo demo
cp rtsgeo-output/demo/quicklooks/demo_scene.png "$images/demo-quicklook.png"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-background-networking --disable-component-update --no-first-run \
    --user-data-dir="$work/chromium" --window-size=1200,1307 \
    --virtual-time-budget=5000 \
    --screenshot="$images/demo-report.png" "file://$work/rtsgeo-output/demo/report.html"
echo "wrote $images/demo-quicklook.png and $images/demo-report.png"
