#!/bin/sh
# How fast is serialmesh? Builds release binaries and measures, in one run on
# loopback, a pty echo device reached directly, through socat (TCP), ser2net
# (default and chardelay: false), socat mutual TLS and serialmesh: round-trip
# latency, throughput, session setup, memory and CPU. Prints markdown tables
# with ratios to socat TCP and to the direct floor. See bench/README.md.
#
#   ./scripts/bench.sh                       full run (a couple of minutes)
#   ./scripts/bench.sh --quick               smoke test, seconds
#   ./scripts/bench.sh --json results.json   also write the figures as JSON
#   ./scripts/bench.sh --only socat_tcp,serialmesh
#
# Needs socat and ser2net (apt-get install socat ser2net). Honours
# CARGO_TARGET_DIR.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --bins
exec "${CARGO_TARGET_DIR:-target}/release/serialmesh-bench" "$@"
