// An emulated Z-Wave controller with mock nodes, behind a plain TCP port
// that socat turns into a pty (the serial device the agent shares).
//
// zwave-js's own mock server hands every TCP chunk to its controller as one
// frame, so an ACK and the next request arriving together (as any serial
// line may deliver them) crash it. Real controllers parse a byte stream;
// this emulator does too: it splits what arrives into frames and gives the
// mock controller one frame at a time.
//
// Usage: node emulator.cjs LISTEN_PORT
// Prints "EMULATOR READY" when it accepts connections.

"use strict";
const net = require("net");
const path = require("path");
// The mock server is what zwave-js's `mock-server` command runs; the
// package does not export it, so it is loaded by path.
const { MockServer } = require(
  path.join(path.dirname(require.resolve("zwave-js/package.json")), "build/cjs/mockServer.js"),
);

const SOF = 0x01, ACK = 0x06, NAK = 0x15, CAN = 0x18;

// Nodes: two binary switches that answer Version and Manufacturer Specific.
const config = {
  nodes: [
    { id: 2, capabilities: { commandClasses: [0x25, 0x72, 0x86] } },
    { id: 3, capabilities: { commandClasses: [0x25, 0x86] } },
  ],
};

/** Splits a byte stream into whole serial API frames. */
class Framer {
  constructor() { this.buf = Buffer.alloc(0); }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const frames = [];
    while (this.buf.length > 0) {
      const head = this.buf[0];
      if (head === ACK || head === NAK || head === CAN) {
        frames.push(this.buf.subarray(0, 1));
        this.buf = this.buf.subarray(1);
      } else if (head === SOF) {
        if (this.buf.length < 2) break;
        const total = this.buf[1] + 2;
        if (this.buf.length < total) break;
        frames.push(this.buf.subarray(0, total));
        this.buf = this.buf.subarray(total);
      } else {
        // Line noise: a real controller skips to the next SOF.
        console.error(`EMULATOR skipped stray byte 0x${head.toString(16)}`);
        this.buf = this.buf.subarray(1);
      }
    }
    return frames;
  }
}

// The mock controller rejects a promise when the host does not ACK one of
// its frames within a second, and nothing catches it. Firmware retransmits
// and carries on instead (a frame said while a USB stick re-enumerates is
// simply lost), so the emulator logs it and carries on too.
process.on("unhandledRejection", (e) => {
  console.log(`EMULATOR no ACK from the host: ${String(e?.message ?? e).split("\n")[0]}`);
});

async function main() {
  const listenPort = Number(process.argv[2]);
  // The mock server's own TCP port carries the controller's output to us;
  // input goes to its serial port frame by frame.
  const mock = new MockServer({ interface: "127.0.0.1", port: 0, config });
  await mock.start();
  if (!mock.server.listening) await require("events").once(mock.server, "listening");
  const mockPort = mock.server.address().port;

  const server = net.createServer((host) => {
    host.setNoDelay(true);
    console.log("EMULATOR host connected");
    const out = net.connect(mockPort, "127.0.0.1");
    out.setNoDelay(true);
    out.on("data", (d) => host.write(d));
    const framer = new Framer();
    let chain = Promise.resolve();
    host.on("data", (chunk) => {
      for (const frame of framer.push(chunk)) {
        chain = chain.then(() => mock.serialport.writeAsync(Uint8Array.from(frame)));
      }
    });
    const close = () => { out.destroy(); host.destroy(); };
    host.on("close", () => { console.log("EMULATOR host disconnected"); close(); });
    host.on("error", close);
    out.on("error", close);
  });
  server.listen(listenPort, "127.0.0.1", () => console.log("EMULATOR READY"));
  const stop = async () => { server.close(); await mock.stop(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => { console.error(`EMULATOR FAILED ${e.stack}`); process.exit(1); });
