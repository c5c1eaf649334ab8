#!/usr/bin/env bash
# The README's screenshots, made from the real app under Xvfb (see scripts/screenshot.sh for what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
export SCREENSHOT_WAIT=${SCREENSHOT_WAIT:-15}
bash scripts/screenshot.sh docs/screenshot.png --view attention --image assets/chelsea.png
for v in model methods distance tokens embeddings; do
    bash scripts/screenshot.sh "docs/view-$v.png" --view "$v" --image assets/chelsea.png
done
# Compare: the second pane shows astronaut.png through the same model (its Source menu, third entry)
SCREENSHOT_CLICK="580 96;580 169" bash scripts/screenshot.sh docs/view-compare.png --view compare --image assets/chelsea.png
