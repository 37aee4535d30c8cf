"""The lab's fault-injecting proxy, measured on loopback: it delays, caps bandwidth, cuts and
resets as asked, and delivers every byte in order."""

from __future__ import annotations

import asyncio
import time

from testkit.fault_proxy import FaultProxy


async def echo_server() -> tuple[asyncio.base_events.Server, int]:
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def through(proxy_options: dict, exchange) -> object:
    """Run ``exchange(reader, writer, proxy)`` over a proxy in front of an echo server."""
    server, port = await echo_server()
    proxy = FaultProxy(("127.0.0.1", port), **proxy_options)
    proxy_port = await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        return await exchange(reader, writer, proxy)
    finally:
        writer.close()
        await proxy.close()
        server.close()
        await server.wait_closed()


async def round_trip(reader, writer, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    assert await reader.readexactly(len(payload)) == payload
    return time.perf_counter() - start


def test_the_proxy_delays_each_way_by_the_delay_and_no_less():
    # Prepare / Execute: five round trips through 50 ms each way
    async def exchange(reader, writer, proxy):
        return [await round_trip(reader, writer) for _ in range(5)], proxy.stats()

    seconds, stats = asyncio.run(through({"delay": 0.05}, exchange))

    # Assert: a round trip is two delays, plus little (a loaded machine adds some); the proxy
    # counted five requests
    assert stats["requests"] == 5
    assert min(seconds) >= 0.1
    assert sorted(seconds)[2] < 0.1 + 0.1


def test_jitter_spreads_the_delay_and_keeps_the_bytes_in_order():
    # Prepare: 30 numbered messages, 20 ms apart, through 30 ± 20 ms each way
    async def exchange(reader, writer, proxy):
        seconds, received = [], b""
        for i in range(30):
            seconds.append(await round_trip(reader, writer, b"%03d" % i))
            received += b"%03d" % i
        return seconds, received

    # Execute
    seconds, received = asyncio.run(through({"delay": 0.03, "jitter": 0.02, "seed": 1}, exchange))

    # Assert: round trips vary within two delays ± two jitters, and every byte came back in order
    assert received == b"".join(b"%03d" % i for i in range(30))
    assert min(seconds) >= 0.02 and max(seconds) - min(seconds) > 0.015
    assert sorted(seconds)[15] < 0.1 + 0.1


def test_the_bandwidth_cap_paces_a_transfer_to_the_rate():
    # Prepare: 1 MB each way at 2 MB/s, which takes 0.5 s each way, pipelined
    payload = bytes(range(256)) * 4096

    async def exchange(reader, writer, proxy):
        start = time.perf_counter()
        writer.write(payload)
        back = await reader.readexactly(len(payload))
        return time.perf_counter() - start, back, proxy.stats()

    # Execute
    seconds, back, stats = asyncio.run(through({"rate": 2e6}, exchange))

    # Assert: the bytes came back whole, no faster than the cap allows and not much slower
    assert back == payload
    assert stats["up"] == stats["down"] == len(payload)
    assert len(payload) / 2e6 <= seconds < 2 * len(payload) / 2e6 + 0.3


def test_a_cut_holds_everything_until_the_link_is_back():
    # Prepare / Execute: cut the link for 0.4 s, then send through it
    async def exchange(reader, writer, proxy):
        await round_trip(reader, writer)
        proxy.cut(0.4)
        return await round_trip(reader, writer, b"after the cut")

    seconds = asyncio.run(through({}, exchange))

    # Assert: the message waited out the cut, then crossed
    assert 0.38 <= seconds < 0.4 + 0.3


def test_a_reset_ends_every_open_connection():
    # Prepare / Execute: reset the link under an open connection
    async def exchange(reader, writer, proxy):
        await round_trip(reader, writer)
        proxy.reset()
        try:
            return await asyncio.wait_for(reader.read(10), 2)
        except ConnectionResetError:
            return b""

    # Assert: the client sees the connection end (a reset or an end of stream), not a hang
    assert asyncio.run(through({}, exchange)) == b""
