#!/bin/sh
# Runs every test: unit tests of each crate and the end-to-end tests that
# drive the real binaries. The binaries are built first because the
# end-to-end tests start them as processes. Tools the tests need that are
# missing are installed first (scripts/install-test-deps.sh), so this one
# command works on a fresh machine.
set -eu
cd "$(dirname "$0")/.."
missing=
for tool in socat faketime ip nft ser2net openssl node npm hadolint kubernetes-validate kubectl promtool; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
for module in serial cryptography aioesphomeapi; do
    /usr/bin/python3 -c "import $module" 2>/dev/null || missing="$missing python3-$module"
done
if [ -n "$missing" ]; then
    echo "test.sh: installing what the tests need (missing:$missing)" >&2
    ./scripts/install-test-deps.sh
fi
cargo build --workspace --bins --locked 2>/dev/null || cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- "$@"
