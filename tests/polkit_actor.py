"""A bus client that runs as another user and makes the calls its test sends it.

Started by ``polkitbus.Actor`` (through setpriv) with the bus address as argument. It
prints one JSON line with its unique name and pid, then for each JSON request line
on stdin makes that call and prints the reply or the error as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from busutil import plain
from dbus_fast import Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus
from polkitbus import decode

from sipprofile.proto import names


async def main(address: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    print(json.dumps({"name": bus.unique_name, "pid": os.getpid()}), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        request = json.loads(line)
        flags = MessageFlag.NONE
        if request["interactive"]:
            flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION
        reply = await bus.call(
            Message(
                destination=names.BUS_NAME,
                path=request["path"],
                interface=request["interface"],
                member=request["member"],
                signature=request["signature"],
                body=decode(request["body"]),
                flags=flags,
            )
        )
        assert reply is not None
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body else ""
            answer = {"error": reply.error_name, "text": text}
        else:
            answer = {"reply": plain(list(reply.body))}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
