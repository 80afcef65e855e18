#!/usr/bin/env python3
"""pyserial's RFC 2217 client against a serialmesh endpoint, as a real peer.

Usage: rfc2217_client.py full PORT GO_FILE
       rfc2217_client.py quick PORT
       rfc2217_client.py flap PORT COUNT

Prints one line per step; the Rust test (tests/tests/rfc2217.rs) reads
them. In `full` mode it stops after configuring the port until GO_FILE
exists, so the test can look at the device's termios meanwhile. Exits
non-zero with the reason on stderr when anything is off. The far end is an
echo device, so every byte written must come back unchanged.
"""

import os
import sys
import time

import serial


def step(text):
    print(text, flush=True)


def fail(text):
    print(f"rfc2217_client: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def roundtrip(port, payload, what):
    port.write(payload)
    got = port.read(len(payload))
    if got != payload:
        first = next((i for i, (a, b) in enumerate(zip(got, payload)) if a != b), len(got))
        fail(f"{what}: sent {len(payload)} bytes, got {len(got)} back, first difference at {first}")
    step(f"roundtrip {what} {len(payload)}")


def wait_for(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            fail(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


def main():
    mode, port_number = sys.argv[1], int(sys.argv[2])
    url = f"rfc2217://127.0.0.1:{port_number}?timeout=5"
    if mode == "quick":
        port = serial.serial_for_url(url, baudrate=57600, timeout=10)
        step(f"opened {port.baudrate}")
        roundtrip(port, bytes(range(256)) + b"\xff" * 64, "quick")
        port.close()
        step("closed")
        return

    if mode == "flap":
        # A client changing the line as fast as it can: every change is
        # answered, and the last one is what the device is left with.
        port = serial.serial_for_url(url, baudrate=9600, timeout=10)
        for i in range(int(sys.argv[3])):
            port.baudrate = 19200 if i % 2 else 38400
            port.reset_input_buffer()
        port.baudrate = 57600
        roundtrip(port, b"after the flapping", "flap")
        port.close()
        step("closed")
        return

    go_file = sys.argv[3]
    # Opening negotiates telnet and RFC 2217 and sends every setting; each
    # must be answered (pyserial raises on a missing or different answer).
    port = serial.serial_for_url(
        url, baudrate=9600, bytesize=7, parity="E", stopbits=2, rtscts=True, timeout=10
    )
    step(f"configured {port.baudrate} {port.bytesize}{port.parity}{port.stopbits} rtscts={port.rtscts}")
    wait_for(go_file)

    # A pty has no modem lines: shown as a line that is always ready.
    step(f"modem cts={port.cts} dsr={port.dsr} ri={port.ri} cd={port.cd}")

    every_byte = bytes(range(256)) * 4
    roundtrip(port, every_byte, "all-values")
    roundtrip(port, b"\xff" * 2000, "iac-run")
    roundtrip(port, (b"\xff\xff\x00\xfa\xf0\xfb\x2c\x0d\x0a" * 300), "telnet-lookalikes")

    port.send_break(0.1)
    step("break sent")
    port.reset_input_buffer()
    port.reset_output_buffer()
    step("purged")

    port.dtr = False
    port.rts = False
    step("dtr and rts off")

    port.baudrate = 19200
    port.bytesize = 8
    port.parity = "N"
    port.stopbits = 1
    port.rtscts = False
    port.xonxoff = True
    step("reconfigured")

    try:
        port.parity = "M"
    except (serial.SerialException, ValueError) as e:
        step(f"mark parity refused: {e}")
    else:
        fail("mark parity was accepted, but the device cannot do it")

    port.close()
    step("closed")


if __name__ == "__main__":
    main()
