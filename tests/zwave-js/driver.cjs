// A zwave-js driver (what zwave-js-ui runs) on a serial port given as
// tcp://HOST:PORT: it waits until the controller and every node are
// interviewed, then switches node 2 on and off and reads it back, printing
// one line per cycle, and exits after CYCLES cycles.
//
// Usage: node driver.cjs tcp://127.0.0.1:PORT CYCLES
// Lines: DRIVER READY ..., ALL NODES READY, CYCLE n OK ms=..., CYCLE n FAIL ...,
// DRIVER ERROR ... (the driver gave up: the gateway would now be down).

"use strict";
const { Driver } = require("zwave-js");
const fs = require("fs"), os = require("os"), path = require("path");

const [port, cyclesArg] = process.argv.slice(2);
const cycles = Number(cyclesArg ?? 10);
const cache = fs.mkdtempSync(path.join(os.tmpdir(), "zwave-js-cache-"));
const driver = new Driver(port, {
  logConfig: { enabled: true, level: process.env.ZWAVE_LOG_LEVEL ?? "warn", logToFile: false },
  storage: { cacheDir: cache, lockDir: cache },
});

let done = false;
async function finish(code) {
  if (done) return;
  done = true;
  try { await driver.destroy(); } catch {}
  fs.rmSync(cache, { recursive: true, force: true });
  process.exit(code);
}
setTimeout(() => { console.log("TIMEOUT waiting for the interview"); finish(3); }, 120000).unref();

driver.on("error", (e) => console.log(`DRIVER ERROR ${e.message.split("\n")[0]}`));
driver.once("driver ready", () => {
  const c = driver.controller;
  console.log(`DRIVER READY homeId=${c.homeId?.toString(16)} ownNodeId=${c.ownNodeId} nodes=${[...c.nodes.keys()].join(",")}`);
});
driver.once("all nodes ready", async () => {
  console.log("ALL NODES READY");
  const node = driver.controller.nodes.get(2);
  for (let n = 1; n <= cycles && !done; n++) {
    const want = n % 2 === 1;
    const start = Date.now();
    try {
      await node.commandClasses["Binary Switch"].set(want);
      const got = await node.commandClasses["Binary Switch"].get();
      const ok = got && got.currentValue === want;
      console.log(`CYCLE ${n} ${ok ? "OK" : "FAIL wrong value " + JSON.stringify(got)} ms=${Date.now() - start}`);
    } catch (e) {
      console.log(`CYCLE ${n} FAIL ${e.message.split("\n")[0]} ms=${Date.now() - start}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log("CYCLES DONE");
  finish(0);
});
driver.start().catch((e) => { console.log(`DRIVER ERROR start: ${e.message}`); finish(2); });
