#!/bin/sh
# Soak: traffic at 115200-baud pace both ways through seriald and serialctl
# in network namespaces for SERIALMESH_SOAK_MINUTES (default 30), a fault
# every minute, memory/descriptors/threads of both binaries sampled each
# minute and checked for growth. Report: target/soak-report.txt.
set -eu
cd "$(dirname "$0")/.."
cargo build --workspace --bins
export SERIALMESH_SOAK_MINUTES="${SERIALMESH_SOAK_MINUTES:-30}"
status=0
cargo test -p serialmesh-tests --test soak -- --ignored --nocapture "$@" \
    >target/soak.log 2>&1 || status=$?
cat target/soak-report.txt 2>/dev/null || true
grep -E '^test |panicked|test result' target/soak.log || true
echo "full log: target/soak.log"
exit $status
