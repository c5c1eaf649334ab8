#!/usr/bin/env bash
# Screenshot of the real app under Xvfb: scripts/screenshot.sh [OUT.png] [vitscope args...]
# Env: SCREENSHOT_SIZE=WxH (screen, 1280x800), SCREENSHOT_WAIT=s, SCREENSHOT_CLICK="x y;x y", SCREENSHOT_KEYS="e e",
# SCREENSHOT_AFTER=s (wait after the clicks and keys).
# Needs: apt-get install -y --no-install-recommends xvfb x11-apps imagemagick xdotool
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshot.png}; shift || true
for t in Xvfb xwd convert xdotool; do command -v $t >/dev/null || { echo "screenshot: $t missing; apt-get install -y xvfb x11-apps imagemagick xdotool" >&2; exit 1; }; done
bin=${VITSCOPE_BIN:-target/debug/vitscope}
[ -x "$bin" ] || cargo build --quiet
export DISPLAY=:${SCREENSHOT_DISPLAY:-97}
Xvfb "$DISPLAY" -screen 0 "${SCREENSHOT_SIZE:-1280x800}x24" >/dev/null 2>&1 & xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
"$bin" "$@" >/dev/null 2>&1 & app=$!
for _ in $(seq 1 60); do xdotool search --onlyvisible --name vitscope >/dev/null 2>&1 && break; sleep 0.5; done
size=${SCREENSHOT_SIZE:-1280x800}
xdotool search --onlyvisible --name vitscope windowmove 0 0 windowsize "${size%x*}" "${size#*x}" >/dev/null 2>&1 || true
sleep "${SCREENSHOT_WAIT:-8}"   # the model loads and runs on the worker thread
IFS=';' read -ra clicks <<< "${SCREENSHOT_CLICK:-}"
for c in "${clicks[@]}"; do xdotool mousemove $c click 1; sleep 2; done
# no window manager gives the window the keyboard: give it the input focus before the keys
if [ -n "${SCREENSHOT_KEYS:-}" ]; then
    xdotool search --onlyvisible --name vitscope windowfocus --sync >/dev/null 2>&1 || true
    sleep 1
fi
for k in ${SCREENSHOT_KEYS:-}; do xdotool key "$k"; sleep 2; done
sleep "${SCREENSHOT_AFTER:-0}"   # long work started by a click (faithfulness curves)
mkdir -p "$(dirname "$out")"
xwd -root -silent | convert xwd:- "$out"
echo "$out"
