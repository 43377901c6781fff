"""A ``nanobot run``-like process for the crash tests: the real runtime fed through a pipe.

``python tests/crash_child.py STORAGE [REPLAY_WINDOW]``. Each stdin line
``ID<TAB>CHAT<TAB>TEXT`` is one platform message; the process prints
``A<TAB>ID`` once ``submit`` accepted it (the platform's acknowledgement) and
``R<TAB>ID<TAB>STATUS<TAB>TEXT`` when a reply is shown (newlines as ``\\n``).
End of input: the queued turns are answered and the process exits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio
from attrs import define, field

from nanobot_core import AccessPolicy, Activity, Admission, Inbound, Outbound
from nanobot_core.config import load_config
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Registry
from nanobot_core.runtime import Runtime

NAME = "pipe"


def emit(*fields: str) -> None:
    line = "\t".join(f.replace("\\", "\\\\").replace("\n", "\\n") for f in fields)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # written to the pipe: "shown", whatever happens to us next


@define(eq=False)
class PipeChannel:
    host: Runtime
    access: AccessPolicy = field(factory=AccessPolicy.operator)
    _chats: dict[str, trio.MemorySendChannel[Inbound]] = field(factory=dict)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buffer = b""
        async with trio.open_nursery() as nursery:
            while True:
                data = await stdin.receive_some()
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    message_id, chat, text = line.decode().split("\t", 2)
                    inbound = Inbound(NAME, chat, chat, text, message_id=message_id)
                    self._queue(nursery, inbound)
            for send in self._chats.values():
                send.close()

    def _queue(self, nursery: trio.Nursery, inbound: Inbound) -> None:
        """One task per chat submits its messages in order (as the Telegram channel does)."""
        send = self._chats.get(inbound.chat_id)
        if send is None:
            send, receive = trio.open_memory_channel[Inbound](10_000)
            self._chats[inbound.chat_id] = send
            nursery.start_soon(self._submit_all, receive)
        send.send_nowait(inbound)

    async def _submit_all(self, receive: trio.MemoryReceiveChannel[Inbound]) -> None:
        async for inbound in receive:
            if await self.host.submit(inbound) is Admission.ACCEPTED:
                emit("A", inbound.message_id or "")

    async def send(self, outbound: Outbound) -> None:
        emit("R", outbound.reply_to or "", outbound.status.value, outbound.text)

    async def set_activity(self, chat_id: str, activity: Activity | None) -> None:
        return None


def main() -> None:
    storage = Path(sys.argv[1])
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
    raw = {
        "storage": {"path": str(storage)},
        "limits": {"turn": "1000000/minute"},
        "runtime": {"replay_window": window, "queue_size": 64},
    }
    registry = Registry.collect(Plugins.load(env={}, entry_points=False).pm)
    runtime = Runtime.create(load_config(raw, registry, env={}), registry)
    trio.run(runtime.run, {NAME: PipeChannel(runtime)})


if __name__ == "__main__":
    main()
