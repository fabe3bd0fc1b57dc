"""Websocket load driver, run in its own process so it does not share the agent's event loop.

    python -m bench.ws_driver URL TOKEN --clients 10 --calls 1000 --warmup 100 [--method agent.info]

Each client opens `/ws`, sends `session.open` with TOKEN, makes `--warmup` untimed calls, waits for
every other client (so the timed phases overlap), then makes `--calls` timed calls back to back,
one in flight per client. Prints one JSON object on stdout: per-call latencies in milliseconds and
the wall time of the timed phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CALL_TIMEOUT = 10.0


@dataclass
class ClientResult:
    latencies_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


async def _call(ws: aiohttp.ClientWebSocketResponse, call_id: int, text: str) -> Any:
    await ws.send_str(text)
    while True:
        msg = await ws.receive(timeout=CALL_TIMEOUT)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"websocket closed or failed during call {call_id}: {msg.type.name} {msg.data!r}")
        answer = json.loads(msg.data)
        if answer.get("id") != call_id:
            continue  # an event pushed by the agent (no id), not our answer
        if "error" in answer:
            raise RuntimeError(f"call {call_id} failed: {answer['error']}")
        return answer["result"]


def _request(call_id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params})


async def _client(session: aiohttp.ClientSession, url: str, token: str, method: str, calls: int, warmup: int,
                  barrier: asyncio.Barrier) -> ClientResult:
    result = ClientResult()
    async with session.ws_connect(url, compress=0, autoping=True) as ws:
        await _call(ws, 0, _request(0, "session.open", {"token": token}))
        for i in range(1, warmup + 1):
            await _call(ws, i, _request(i, method, {}))
        requests = [(i, _request(i, method, {})) for i in range(warmup + 1, warmup + 1 + calls)]
        await barrier.wait()
        result.started = time.perf_counter()
        for call_id, text in requests:
            t0 = time.perf_counter()
            await _call(ws, call_id, text)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
        result.finished = time.perf_counter()
    return result


async def drive(url: str, token: str, *, clients: int, calls: int, warmup: int, method: str) -> dict[str, Any]:
    barrier = asyncio.Barrier(clients)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(
            _client(session, url, token, method, calls, warmup, barrier) for _ in range(clients)))
    latencies = [ms for r in results for ms in r.latencies_ms]
    wall = max(r.finished for r in results) - min(r.started for r in results)
    return {"latencies_ms": latencies, "wall_s": wall, "clients": clients, "calls_per_client": calls}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_driver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="websocket URL, e.g. ws://127.0.0.1:8743/ws")
    parser.add_argument("token")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per client")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per client first")
    parser.add_argument("--method", default="agent.info")
    args = parser.parse_args(argv)
    report = asyncio.run(drive(args.url, args.token, clients=args.clients, calls=args.calls, warmup=args.warmup,
                               method=args.method))
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
