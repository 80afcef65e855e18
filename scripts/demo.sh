#!/bin/sh
# One command to see serialmesh work on this host: builds the binaries,
# makes a throwaway CA and certificates, starts an agent sharing a demo echo
# device, starts a client endpoint on tcp://127.0.0.1:5000, and sends bytes
# through the mutual-TLS tunnel. Ctrl-C stops everything.
#
#   ./scripts/demo.sh           run until Ctrl-C
#   ./scripts/demo.sh --once    show the round trip, then stop (used by tests)
#
# Environment: DEMO_AGENT_PORT (default 21317), DEMO_TCP_PORT (default 5000),
# SERIALMESH_BIN_DIR (use prebuilt binaries instead of building).
set -eu
cd "$(dirname "$0")/.."
ONCE=no
[ "${1:-}" = "--once" ] && ONCE=yes
AGENT_PORT=${DEMO_AGENT_PORT:-21317}
TCP_PORT=${DEMO_TCP_PORT:-5000}

if [ -n "${SERIALMESH_BIN_DIR:-}" ]; then
    BIN=$SERIALMESH_BIN_DIR
else
    echo "==> building seriald and serialctl"
    cargo build --quiet --bins
    BIN=target/debug
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/serialmesh-demo.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> throwaway CA and certificates in $WORK"
"$BIN/serialctl" pki init --dir "$WORK/ca" >/dev/null
"$BIN/serialctl" pki issue --dir "$WORK/ca" --role agent --name demo-agent --zone demo --out "$WORK/agent" >/dev/null
"$BIN/serialctl" pki issue --dir "$WORK/ca" --role client --name demo-client --out "$WORK/client" >/dev/null

cat >"$WORK/agent.toml" <<TOML
name = "demo-agent"
zone = "demo"
listen = "127.0.0.1:$AGENT_PORT"
[tls]
cert = "agent/demo-agent.pem"
key = "agent/demo-agent.key"
ca = "agent/ca.pem"
TOML

echo "==> starting seriald with a demo echo device (logs: $WORK/seriald.log)"
"$BIN/seriald" --config "$WORK/agent.toml" --demo 2>"$WORK/seriald.log" &
PIDS="$PIDS $!"
echo "==> starting serialctl connect demo@demo on tcp://127.0.0.1:$TCP_PORT (logs: $WORK/serialctl.log)"
"$BIN/serialctl" connect demo@demo --agent "127.0.0.1:$AGENT_PORT" --tcp "127.0.0.1:$TCP_PORT" \
    --cert "$WORK/client/demo-client.pem" --key "$WORK/client/demo-client.key" --ca "$WORK/client/ca.pem" \
    2>"$WORK/serialctl.log" &
PIDS="$PIDS $!"

python3 - "$TCP_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 20
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("demo: the client endpoint did not come up; see the logs above")
        time.sleep(0.1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"hello through serialmesh \x00\x11\x13\xff"
t0 = time.perf_counter()
s.sendall(msg)
got = b""
while len(got) < len(msg):
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("demo: connection closed before the echo came back")
    got += chunk
ms = (time.perf_counter() - t0) * 1000
print(f"==> sent     {msg!r}")
print(f"==> received {got!r} in {ms:.1f} ms (includes session setup)")
sys.exit(0 if got == msg else "demo: the echo differs from what was sent")
PY

if [ "$ONCE" = yes ]; then
    echo "==> round trip OK"
    exit 0
fi
echo "==> running. Try: socat - TCP:127.0.0.1:$TCP_PORT   (Ctrl-C to stop)"
wait
