#!/usr/bin/env bash
# Set everything up (idempotent) and open vitscope on the built-in model and a sample photo.
# Extra arguments go to vitscope, e.g.: scripts/run.sh --image my.jpg --size 518
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# both binaries: `vitscope` (the launcher) and `vitscope-engine` next to it
cargo build --quiet --bins
exec target/debug/vitscope "$@"
