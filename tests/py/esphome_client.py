"""Home Assistant's ESPHome client (aioesphomeapi, PyPI) against the agent's
ESPHome endpoint: a second, independent implementation of the protocol
beside zwave-js. It connects with a Noise key, reads DeviceInfo, subscribes
to the Z-Wave proxy, sends one frame and waits for its echo (the test
shares an echo device).

Usage: esphome_client.py HOST PORT BASE64_KEY
Lines: DEVICE INFO ..., ECHO OK | ECHO BAD ..., DONE; errors as ERROR ...
"""

import asyncio
import sys

from aioesphomeapi import APIClient
from aioesphomeapi.api_pb2 import ZWaveProxyFrame


async def main(host: str, port: int, key: str) -> None:
    cli = APIClient(host, port, None, noise_psk=key)
    await cli.connect(login=True)
    info = await cli.device_info()
    print(
        f"DEVICE INFO name={info.name} flags={info.zwave_proxy_feature_flags} "
        f"home_id={info.zwave_home_id:08x}",
        flush=True,
    )
    got: asyncio.Queue[bytes] = asyncio.Queue()
    conn = cli._get_connection()  # noqa: SLF001 - how HA's Z-Wave proxy reads frames
    conn.add_message_callback(lambda m: got.put_nowait(bytes(m.data)), (ZWaveProxyFrame,))
    cli.zwave_proxy_subscribe()
    probe = b"\x01\x03\x00\x15\xe9"
    conn.send_message(ZWaveProxyFrame(data=probe))
    back = b""
    while len(back) < len(probe):
        back += await asyncio.wait_for(got.get(), 10)
    print("ECHO OK" if back == probe else f"ECHO BAD {back!r}", flush=True)
    await cli.disconnect()
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    except Exception as e:  # noqa: BLE001 - the test reads the line
        print(f"ERROR {type(e).__name__}: {e}", flush=True)
        sys.exit(2)
