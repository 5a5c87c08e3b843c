"""A small asyncua OPC UA server for the bridge tests, run as a child process.

``python -m tests.integration.opcua_server PORT [SPEED]`` serves on 127.0.0.1:PORT, namespace
``urn:linewatch:test`` (index 2), with string node ids:

- ``ns=2;s=Pump1.Temperature`` float, 20.0, 20.5, 21.0, ... (changes every 50 ms)
- ``ns=2;s=Pump1.Speed``       int, SPEED, SPEED + 1, ... (SPEED defaults to 1000)
- ``ns=2;s=Press7.Pressure``   float, 100.0, 99.0, ...
- ``ns=2;s=Press7.Mode``       string "auto" then "manual", ... (not a number: dead letter)

It prints ``ready`` on stdout once it listens and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from asyncua import Server, ua

STEP_S = 0.05


async def serve(port: int, first_speed: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/linewatch/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:linewatch:test")
    objects = server.nodes.objects
    pump = await objects.add_object(f"ns={ns};s=Pump1", "Pump1")
    press = await objects.add_object(f"ns={ns};s=Press7", "Press7")
    temperature = await pump.add_variable(f"ns={ns};s=Pump1.Temperature", "T", 20.0)
    speed = await pump.add_variable(
        f"ns={ns};s=Pump1.Speed", "Speed", first_speed, varianttype=ua.VariantType.Int32
    )
    pressure = await press.add_variable(f"ns={ns};s=Press7.Pressure", "P", 100.0)
    mode = await press.add_variable(f"ns={ns};s=Press7.Mode", "Mode", "auto")
    async with server:
        print("ready", flush=True)
        step = 0
        while True:
            await asyncio.sleep(STEP_S)
            step += 1
            await temperature.write_value(20.0 + 0.5 * step)
            await speed.write_value(ua.Variant(first_speed + step, ua.VariantType.Int32))
            await pressure.write_value(100.0 - step)
            await mode.write_value("manual" if step % 2 else "auto")


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
