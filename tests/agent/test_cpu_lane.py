"""agent/cpu_lane.py: a capability's CPU steps run one at a time in one named thread, made again after close."""

from __future__ import annotations

import asyncio
import threading
import time

from agent.cpu_lane import CpuLane


def _where(delay: float) -> tuple[str, float, float]:
    start = time.monotonic()
    time.sleep(delay)
    return threading.current_thread().name, start, time.monotonic()


async def test_steps_run_serially_in_one_named_thread_off_the_loop() -> None:
    lane = CpuLane("test")
    try:
        results = await asyncio.gather(*(lane.run(_where, 0.02) for _ in range(5)))
        names = {name for name, _, _ in results}
        assert len(names) == 1 and next(iter(names)).startswith("vigie-cpu-test")
        assert threading.current_thread().name not in names
        spans = sorted((start, end) for _, start, end in results)
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))  # never overlap
    finally:
        lane.close()


async def test_keyword_arguments_errors_and_a_new_thread_after_close() -> None:
    lane = CpuLane("test")

    def fail(*, why: str) -> None:
        raise ValueError(why)

    try:
        assert await lane.run(lambda a, *, b: a + b, 1, b=2) == 3
        try:
            await lane.run(fail, why="illisible")
        except ValueError as exc:
            assert str(exc) == "illisible"
        else:
            raise AssertionError("the step's error must reach the caller")
        first = (await lane.run(_where, 0))[0]
        lane.close()
        again = (await lane.run(_where, 0))[0]
        assert first.startswith("vigie-cpu-test") and again.startswith("vigie-cpu-test")
    finally:
        lane.close()
