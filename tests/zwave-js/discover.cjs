// zwave-js's own discovery of remote Z-Wave sticks (an mDNS query for
// _zwave._tcp, what zwave-js-ui's port list shows): prints one line per port
// found, "PORT <path>", then "DISCOVERY DONE". Retries a few times, as a
// user reopening the list would, since one query waits only a second.
//
// Usage: node discover.cjs
"use strict";
const { Driver } = require("zwave-js");

(async () => {
  for (let attempt = 0; attempt < 10; attempt++) {
    const started = Date.now();
    const ports = await Driver.enumerateSerialPorts({ local: false, remote: true });
    console.log(`ATTEMPT ${attempt} found=${ports.length} ms=${Date.now() - started}`);
    if (ports.length) {
      // zwave-js 15 lists ports as strings (older versions: objects with a path).
      for (const p of ports) console.log(`PORT ${typeof p === "string" ? p : p.path}`);
      break;
    }
  }
  console.log("DISCOVERY DONE");
  process.exit(0);
})().catch((e) => { console.log(`DISCOVERY ERROR ${e.message}`); process.exit(2); });
