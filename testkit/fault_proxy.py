"""A TCP proxy that behaves like a wide-area link: delay, jitter, a bandwidth cap, cuts, resets.

This machine's kernel has no ``netem``, so the lab (``make federation-lab``) puts one of these
between each hospital's site and the SuperLink::

    python -m testkit.fault_proxy --listen 10.27.1.1:9093 --target 127.0.0.1:9093 \\
        --delay-ms 40 --jitter-ms 10 --mbit 50 --stats proxy.json

Each direction of the link is modelled as the network would do it: bytes leave at the
capped rate, shared by all of the proxy's connections (one site, one uplink), and arrive
``delay`` ± ``jitter`` later, never overtaking earlier bytes (TCP delivers in order). While the
link is cut nothing crosses and new connections wait, as behind a pulled cable; a reset
ends every open connection at once. ``SIGUSR1`` cuts the link for ``--cut-seconds``,
``SIGUSR2`` resets it, ``SIGTERM`` ends the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

# Bytes read at once: 16 KiB is 2.6 ms at 50 Mbit/s, fine-grained enough for the rate cap.
CHUNK = 16 * 1024


@dataclass
class Direction:
    """One direction of the link: its clock (when its sender is free again), its bytes, and its
    turns: how often it spoke after the other side had (for the client, its requests)."""

    free_at: float = 0.0
    sent: int = 0
    turns: int = 0


@dataclass
class FaultProxy:
    """Forward ``listen`` to ``target`` through a misbehaving link.

    Parameters
    ----------
    target : (str, int)
        Where connections go.
    delay, jitter : float
        One-way delay and its spread (uniform, ± ``jitter``), in seconds.
    rate : float, optional
        The link's capacity in bytes per second, each way; None for no cap.
    seed : int
        Seeds the jitter, so a lab run can be repeated.
    """

    target: tuple[str, int]
    delay: float = 0.0
    jitter: float = 0.0
    rate: float | None = None
    seed: int = 0
    up: Direction = field(default_factory=Direction)
    down: Direction = field(default_factory=Direction)
    connections: int = 0

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._open: set[asyncio.StreamWriter] = set()
        self._link_up = asyncio.Event()
        self._link_up.set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port``; the port it listens on."""
        self._server = await asyncio.start_server(self._connection, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self._server.close()
        self.reset()
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self, seconds: float) -> None:
        """Let nothing cross for ``seconds``; what was sent meanwhile crosses afterwards."""
        self._link_up.clear()
        asyncio.get_running_loop().call_later(seconds, self._link_up.set)

    def reset(self) -> None:
        """End every open connection at once (both ends see a reset)."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def stats(self) -> dict:
        """Bytes forwarded each way, the client's requests (turns) and connections so far."""
        return {
            "up": self.up.sent,
            "down": self.down.sent,
            "requests": self.up.turns,
            "connections": self.connections,
        }

    async def _connection(self, client_reader, client_writer) -> None:
        try:
            await self._relay(client_reader, client_writer)
        except asyncio.CancelledError:
            # The proxy is stopping; Python 3.11's stream server would log a handler that ends
            # cancelled as an error, once per open connection.
            client_writer.transport.abort()

    async def _relay(self, client_reader, client_writer) -> None:
        self.connections += 1
        self._open.add(client_writer)
        try:
            await self._link_up.wait()
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            self._open.discard(client_writer)
            return
        self._open.add(server_writer)
        speaker = [None]  # the direction that last spoke on this connection
        await asyncio.gather(
            self._pipe(client_reader, server_writer, self.up, speaker),
            self._pipe(server_reader, client_writer, self.down, speaker),
            return_exceptions=True,
        )
        for writer in (client_writer, server_writer):
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader, writer, direction: Direction, speaker: list) -> None:
        """Read, pace at the link's rate, and hand each chunk to delivery with its arrival time."""
        loop = asyncio.get_running_loop()
        in_flight: asyncio.Queue = asyncio.Queue()
        delivery = asyncio.create_task(self._deliver(in_flight, writer, direction))
        last_arrival = 0.0
        try:
            while data := await reader.read(CHUNK):
                await self._link_up.wait()
                if speaker[0] is not direction:
                    direction.turns, speaker[0] = direction.turns + 1, direction
                now = loop.time()
                start = max(now, direction.free_at)
                direction.free_at = start + (len(data) / self.rate if self.rate else 0.0)
                spread = self._random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
                last_arrival = max(last_arrival, direction.free_at + max(0.0, self.delay + spread))
                in_flight.put_nowait((last_arrival, data))
                if direction.free_at > now:  # the sender waits for the link, as TCP would
                    await asyncio.sleep(direction.free_at - now)
        finally:
            in_flight.put_nowait(None)
            await delivery

    async def _deliver(self, in_flight: asyncio.Queue, writer, direction: Direction) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (item := await in_flight.get()) is not None:
                arrival, data = item
                await asyncio.sleep(max(0.0, arrival - loop.time()))
                await self._link_up.wait()
                writer.write(data)
                await writer.drain()
                direction.sent += len(data)
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def _serve(args) -> None:
    proxy = FaultProxy(
        _address(args.target),
        args.delay_ms / 1e3,
        args.jitter_ms / 1e3,
        args.mbit * 1e6 / 8 if args.mbit else None,
        args.seed,
    )
    host, port = _address(args.listen)
    await proxy.start(host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut, args.cut_seconds)
    loop.add_signal_handler(signal.SIGUSR2, proxy.reset)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"proxy {args.listen} -> {args.target}: {args.delay_ms} ms ± {args.jitter_ms} ms one way, "
        f"{f'{args.mbit:g} Mbit/s' if args.mbit else 'no'} cap",
        flush=True,
    )
    while not stop.is_set():
        if args.stats:
            Path(args.stats).write_text(json.dumps(proxy.stats()))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
    if args.stats:
        Path(args.stats).write_text(json.dumps(proxy.stats()))
    await proxy.close()


def main() -> None:
    """``python -m testkit.fault_proxy --listen HOST:PORT --target HOST:PORT [faults]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept connections on")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward them to")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± spread of the delay")
    parser.add_argument("--mbit", type=float, default=0.0, help="cap each way, Mbit/s (0: none)")
    parser.add_argument("--cut-seconds", type=float, default=30.0, help="length of a SIGUSR1 cut")
    parser.add_argument("--seed", type=int, default=0, help="seeds the jitter")
    parser.add_argument("--stats", help="file to keep {up, down, connections} in, every 0.5 s")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
