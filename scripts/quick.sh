#!/usr/bin/env bash
# The main job: the quick REST-vs-native scenario on a local Tansu broker and this project's proxy,
# both started by the harness on free loopback ports. Writes reports/quick-<UTC>/index.html and
# summary.json; exits non-zero when a gate (the seed's 0.66 / 0.20 ratios) or a delivery check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p kafka-proxy -p loadgen
exec target/release/loadgen run "${1:-scenarios/quick.toml}" --out reports
