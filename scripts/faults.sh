#!/bin/sh
# Fault injection against the reliability contract, long mode: every fault
# repeated (agent and client SIGKILL, link cuts of 1, 10 and 60 s, 5% packet
# loss, 100 ms delay, device unplug, wall-clock jumps, read-only config),
# then the fault report. The default `cargo test` runs a shorter subset.
# Needs root, iproute2, nftables and faketime (see .ci/run).
set -eu
cd "$(dirname "$0")/.."
cargo build --workspace --bins
rm -f target/fault-report.txt
status=0
SERIALMESH_SOAK=1 cargo test -p serialmesh-tests --test faults -- --nocapture "$@" \
    >target/faults.log 2>&1 || status=$?
echo "fault                       reps  recovery p50/max    app->dev lost (counted/uncounted)  dev->app lost (counted/known/uncounted)"
cat target/fault-report.txt
grep -E '^test |panicked|test result' target/faults.log || true
echo "full log: target/faults.log"
exit $status
