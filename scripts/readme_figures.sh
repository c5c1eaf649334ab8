#!/usr/bin/env bash
# The README's exported figures, written by vitscope's own export (the same writer as the app's Export
# buttons: tests/one_writer.rs checks they give the same bytes): the built-in DINOv2 ViT-S/14 on chelsea.png.
# Needs ImageMagick (apt-get install imagemagick) to scale the mosaic down, and what scripts/screenshot.sh needs
# (Xvfb, xdotool) for the app's own Methods view export.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/vitscope
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
img=assets/chelsea.png
# one map with its colour bar; the last layer's head grid (mean first) with a colour bar; every layer's mosaic
$bin export --image "$img" --out "$out/map" --layer 11 --head mean --colour-bar --force
$bin export --image "$img" --out "$out/grid" --layer 11 --head all --colour-bar --force
$bin export --image "$img" --out "$out/mosaic" --layer all --head mean --force
mkdir -p docs
cp "$out/map/chelsea_dinov2-vit-s-14_cls_L11_mean.png" docs/figure-map.png
cp "$out/grid/chelsea_dinov2-vit-s-14_cls_L11_heads.png" docs/figure-head-grid.png
# the mosaic is 13 × 12 tiles at the model's input size: scaled down for the README (ImageMagick)
/usr/bin/convert "$out/mosaic/chelsea_dinov2-vit-s-14_cls_mosaic.png" -resize 900x docs/figure-mosaic.png
# the ViT paper's plot (mean attention distance and entropy per head and layer), PNG and SVG
$bin distance --images "$img" --out "$out/distance.csv" --plot docs/figure-distance.png --force
$bin distance --images "$img" --out "$out/distance.csv" --plot docs/figure-distance.svg --force
# a Methods view exported by the app itself (under Xvfb, as scripts/screenshot.sh runs it; E exports what the
# view shows), with a fresh settings file whose export folder is the temporary one
mkdir -p "$out/config"
printf '{"export_dir": "%s/app"}' "$out" > "$out/config/settings.json"
VITSCOPE_CONFIG_DIR="$out/config" SCREENSHOT_WAIT=20 SCREENSHOT_KEYS="e" SCREENSHOT_AFTER=3 \
    bash scripts/screenshot.sh "$out/methods-screen.png" --view methods --image "$img" > /dev/null
/usr/bin/convert "$out/app/chelsea_dinov2-vit-s-14_methods_cls.png" -resize 1000x docs/figure-methods.png
ls -l docs/figure-*
