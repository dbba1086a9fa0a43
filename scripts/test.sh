#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, format check and every test against a
# real Tansu broker that the tests start themselves on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# CI builds once from a fresh clone: incremental caches would only take disk (several GB).
if [[ "${CI:-}" == "true" ]]; then export CARGO_INCREMENTAL=0; fi
# Dependencies point one way: no import circles between a crate's files (README, Layout).
python3 scripts/import_circles.py --self-test
python3 scripts/import_circles.py proxy/src loadgen/src local-broker/src
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace "$@"
