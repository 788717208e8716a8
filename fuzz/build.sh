#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on stable Rust: the flags
# cargo-fuzz passes on nightly, minus the address sanitizer (nightly-only). `--target` keeps
# the flags off build scripts and proc macros, which must not be instrumented.
set -euo pipefail
cd "$(dirname "$0")"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
export CARGO_TARGET_DIR="${WHET_FUZZ_TARGET_DIR:-$PWD/target}"
cargo build --release --locked --target "$TRIPLE" --bins "$@"
echo "$CARGO_TARGET_DIR/$TRIPLE/release"
