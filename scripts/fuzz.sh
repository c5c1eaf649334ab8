#!/usr/bin/env bash
# Fuzz image loading, checkpoint reading, config.json and the sharded index reader for a bounded time (default 120 s per target):
#   bash scripts/fuzz.sh [SECONDS]
# Needs a nightly toolchain (cargo-fuzz builds with -Z flags) and cargo-fuzz; both are installed here
# when missing. Seeds come from the sample photos and the test fixtures; findings land in
# fuzz/artifacts/<target>/ and the run fails if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-120}"
bash scripts/setup.sh >/dev/null
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

mkdir -p fuzz/corpus/decode_image fuzz/corpus/read_checkpoint fuzz/corpus/read_config fuzz/corpus/read_index
cp -n assets/*.png assets/*.jpg tests/fixtures/images/* fuzz/corpus/decode_image/ 2>/dev/null || true
for f in tests/fixtures/zoo/*/model.safetensors tests/fixtures/dinov2_tiny/model.safetensors; do
    cp -n "$f" "fuzz/corpus/read_checkpoint/$(basename "$(dirname "$f")").safetensors"
done

for f in tests/fixtures/zoo/*/config.json tests/fixtures/dinov2_tiny/config.json; do
    cp -n "$f" "fuzz/corpus/read_config/$(basename "$(dirname "$f")").json"
done
printf '{"metadata":{"total_size":8},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}' \
    > fuzz/corpus/read_index/index.json

# No sanitizer: libtorch is not built with one, and the Rust code is memory-safe; libFuzzer still
# finds panics, hangs (-timeout) and runaway allocations (-rss_limit_mb, -malloc_limit_mb).
cargo +nightly fuzz build --sanitizer none -O
status=0
for target in decode_image read_checkpoint read_config read_index; do
    echo "== $target: ${secs}s"
    cargo +nightly fuzz run --sanitizer none -O "$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
        -max_len=262144 -print_final_stats=1 2>&1 | tee "fuzz/$target.log" | grep -E '^(#[0-9]+ *(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY|Done)' || true
    if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
        echo "findings in fuzz/artifacts/$target"; status=1
    fi
done
exit $status
