"""An independent Modbus TCP server (pymodbus) for the Modbus transport's test.

Usage: server.py PORT. Unit 1 holds a fixed map (below); writes are stored, so a value
written can be read back. Prints "ready" once it accepts connections.

| table | address | value |
|---|---|---|
| holding | 0 | 1234 (u16; the test reads it with scale 0.1: 123.4) |
| holding | 1-2 | -70000 (i32, high word first) |
| holding | 10 | 0 (a set-point the test writes) |
| input | 0-1 | 21.5 (f32, low word first) |
| coil | 0 | true |
| discrete | 0 | true |
Everything past these addresses answers IllegalDataAddress.
"""

import asyncio
import logging
import socket
import struct
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer


def words_i32(value):
    high, low = struct.unpack(">HH", struct.pack(">i", value))
    return [high, low]


def words_f32_little(value):
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


async def main(port):
    # A sequential block at address 1 is wire address 0 (pymodbus counts from 1).
    holding = [1234] + words_i32(-70000) + [0] * 7 + [0]
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, holding),
        ir=ModbusSequentialDataBlock(1, words_f32_little(21.5)),
        co=ModbusSequentialDataBlock(1, [True]),
        di=ModbusSequentialDataBlock(1, [True]),
    )
    context = ModbusServerContext(devices={1: device})
    server = ModbusTcpServer(context, address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever())
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(int(sys.argv[1])))
