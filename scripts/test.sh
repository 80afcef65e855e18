#!/bin/sh
# Runs every test: unit tests of each crate and the end-to-end tests that
# drive the real binaries. The binaries are built first because the
# end-to-end tests start them as processes.
set -eu
cd "$(dirname "$0")/.."
cargo build --workspace --bins --locked 2>/dev/null || cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- "$@"
