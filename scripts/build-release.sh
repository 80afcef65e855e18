#!/bin/sh
# Builds the release binaries, statically linked, into dist/ (or $DIST_DIR):
# dist/seriald and dist/serialctl. The Dockerfile's build stage and the test
# suite (tests/tests/release.rs) both run this script, so what is tested is
# what ships.
#
# musl is used when its standard library is installed; otherwise glibc is
# linked statically (`+crt-static`). Static glibc cannot load NSS modules
# that are not built into it: host names resolve from /etc/hosts and DNS
# (both built into glibc >= 2.34), which is all serialmesh needs; see
# docs/deployment.md ("Static binaries and name resolution").
set -eu
cd "$(dirname "$0")/.."

sysroot=$(rustc --print sysroot)
if [ -d "$sysroot/lib/rustlib/x86_64-unknown-linux-musl" ]; then
    target=x86_64-unknown-linux-musl
else
    target=x86_64-unknown-linux-gnu
fi
target_dir=${CARGO_TARGET_DIR:-target}
out=${DIST_DIR:-dist}

# --target keeps these objects apart from the ordinary (dynamic) builds in
# target/, so neither build invalidates the other; RUSTFLAGS then applies to
# the target only, not to build scripts and proc macros.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
export RUSTFLAGS
locked=--locked
[ -f Cargo.lock ] || locked=
cargo build --release $locked --target "$target" \
    -p serialmesh-agent -p serialmesh-client --bins

mkdir -p "$out"
for bin in seriald serialctl; do
    cp "$target_dir/$target/release/$bin" "$out/$bin.tmp"
    mv "$out/$bin.tmp" "$out/$bin"
done
ls -l "$out/seriald" "$out/serialctl"
