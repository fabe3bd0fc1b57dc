"""Tests of agent.outbox: idempotency, retries, dead letters, concurrency, stop/restart."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.errors import PermanentJobError, RegistrationError, RetryJobLater
from agent.outbox import DONE_RETENTION, Job, Outbox
from agent.store import Store, make_store

WAIT = 10.0  # upper bound for every wait; tests finish far sooner


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every outbox test runs on both back-ends: the embedded SQLite file and the practice's PostgreSQL."""
    if request.param == "postgresql":
        s: Any = make_store(request.getfixturevalue("pg_url"), tmp_path / "unused.db")
    else:
        s = Store(tmp_path / "agent.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def outboxes(store: Store) -> AsyncIterator[list[Outbox]]:
    """Outboxes created by a test; all stopped at teardown."""
    made: list[Outbox] = []
    yield made
    for ob in made:
        await ob.stop(grace=0.1)


@pytest.fixture
def make(store: Store, outboxes: list[Outbox]) -> Callable[..., Outbox]:
    def factory(**kwargs: Any) -> Outbox:
        ob = Outbox(store, **kwargs)
        outboxes.append(ob)
        return ob

    return factory


async def _row(store: Store, job_id: int) -> dict[str, Any]:
    row = await store.fetchone("SELECT * FROM outbox WHERE id = ?", (job_id,))
    assert row is not None
    return dict(row)


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    # The outbox records outcomes in the store, so the test polls it (briefly) rather than an event.
    async with asyncio.timeout(timeout):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.002)


class FrozenClock:
    """A clock that moves only when the test says so: `next_attempt_at` becomes exactly predictable."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_outbox_enqueue_is_idempotent(store: Store, make: Callable[..., Outbox]) -> None:
    ob = make()
    first = await ob.enqueue("send", {"doc": 1}, key="doc-1")
    again = await ob.enqueue("send", {"doc": 2}, key="doc-1", delay=100)
    other = await ob.enqueue("send", {"doc": 3}, key="doc-3")
    assert again == first != other
    row = await _row(store, first)
    assert row["payload"] == '{"doc":1}' and row["state"] == "pending" and row["attempts"] == 0
    assert await ob.stats() == {"pending": 2, "running": 0, "done": 0, "dead": 0}


async def test_outbox_runs_job_and_passes_fields(store: Store, make: Callable[..., Outbox]) -> None:
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)

    ob = make()
    ob.register("send", handler)
    job_id = await ob.enqueue("send", {"doc": "é", "n": [1, 2]}, key="doc-1")
    await ob.start()
    await ob.wait_idle(WAIT)
    assert [(j.id, j.handler, j.key, j.payload, j.attempts) for j in seen] == [
        (job_id, "send", "doc-1", {"doc": "é", "n": [1, 2]}, 0)
    ]
    row = await _row(store, job_id)
    assert row["state"] == "done"
    assert row["payload"] == "{}"  # delivered: the (possibly personal) payload is not kept
    assert await ob.enqueue("send", {"doc": "again"}, key="doc-1") == job_id  # still idempotent
    await ob.wait_idle(WAIT)
    assert len(seen) == 1


async def test_outbox_purges_old_finished_jobs_at_start(store: Store, make: Callable[..., Outbox]) -> None:
    clock = FrozenClock(10_000_000.0)
    ob = make(clock=clock)
    ob.register("send", lambda job: asyncio.sleep(0))
    old = await ob.enqueue("send", {}, key="old")
    pending = await ob.enqueue("send", {}, key="later", delay=10**9)
    await ob.start()
    await ob.wait_idle(WAIT)
    await ob.stop()
    clock.now += DONE_RETENTION + 1
    fresh = make(clock=clock)
    fresh.register("send", lambda job: asyncio.sleep(0))
    await fresh.start()
    ids = {r[0] for r in await store.fetchall("SELECT id FROM outbox")}
    assert old not in ids and pending in ids


async def test_outbox_retries_with_full_jitter_backoff(store: Store, make: Callable[..., Outbox]) -> None:
    clock = FrozenClock(1_000.0)
    base, cap_max, failures = 0.01, 0.03, 4
    calls: list[int] = []

    async def flaky(job: Job) -> None:
        calls.append(job.attempts)
        if job.attempts < failures:
            raise ConnectionError("service down")

    ob = make(clock=clock, rng=random.Random(42))
    ob.register("flaky", flaky, base_delay=base, max_delay=cap_max, max_attempts=10)
    job_id = await ob.enqueue("flaky", {}, key="k")
    twin = random.Random(42)  # replays the outbox's draws
    await ob.start()
    for attempt in range(1, failures + 1):
        await _until(functools.partial(_pending_after, store, job_id, attempt))
        row = await _row(store, job_id)
        cap = min(cap_max, base * 2 ** (attempt - 1))
        # The clock is frozen, so the failure happened exactly at clock.now.
        assert clock.now <= row["next_attempt_at"] <= clock.now + cap
        assert row["next_attempt_at"] == pytest.approx(clock.now + twin.uniform(0.0, cap))
        assert row["last_error"] == "ConnectionError: service down"
        clock.now = row["next_attempt_at"]  # now due; the dispatcher's own timer (<= cap) fires
    await _until(lambda: _state_is(store, job_id, "done"))
    row = await _row(store, job_id)
    assert row["state"] == "done" and row["attempts"] == failures
    assert calls == list(range(failures + 1))


async def test_outbox_retry_job_later_sets_the_next_attempt(store: Store, make: Callable[..., Outbox]) -> None:
    clock = FrozenClock(1_000.0)
    calls: list[int] = []

    async def deferring(job: Job) -> None:
        calls.append(job.attempts)
        if job.attempts == 0:
            raise RetryJobLater("service busy", retry_after=42.0)

    ob = make(clock=clock)
    ob.register("deferring", deferring, base_delay=0.0, max_attempts=3)
    job_id = await ob.enqueue("deferring", {}, key="k")
    await ob.start()
    await _until(functools.partial(_pending_after, store, job_id, 1))
    row = await _row(store, job_id)
    assert row["next_attempt_at"] == pytest.approx(clock.now + 42.0)  # not the handler's backoff (0 s)
    assert row["last_error"] == "RetryJobLater: service busy"
    clock.now = row["next_attempt_at"]
    ob._poke()
    await _until(lambda: _state_is(store, job_id, "done"))
    assert calls == [0, 1]


async def test_outbox_hurry_brings_waiting_jobs_of_one_handler_forward(store: Store,
                                                                       make: Callable[..., Outbox]) -> None:
    clock = FrozenClock(1_000.0)
    calls: list[tuple[str, int]] = []

    async def waiting(job: Job) -> None:
        calls.append((job.handler, job.attempts))
        if len(calls) <= 2:  # both first runs wait an hour, without using up an attempt
            raise RetryJobLater("no card", retry_after=3600.0, count_attempt=False)

    ob = make(clock=clock)
    ob.register("card", waiting)
    ob.register("other", waiting)
    card = await ob.enqueue("card", {}, key="a")
    other = await ob.enqueue("other", {}, key="b")
    await ob.start()
    await _until(lambda: _runs(calls, 2))
    await _until(functools.partial(_pending_after, store, card, 0))
    assert await ob.hurry("card") == 1
    await _until(lambda: _state_is(store, card, "done"))
    assert (await _row(store, other))["next_attempt_at"] == pytest.approx(clock.now + 3600.0)  # not hurried
    assert calls[2] == ("card", 0)  # run again with its attempt budget untouched
    assert await ob.hurry("card") == 0  # nothing left waiting


async def _runs(calls: list[Any], n: int) -> bool:
    return len(calls) >= n


async def _pending_after(store: Store, job_id: int, attempts: int) -> bool:
    row = await _row(store, job_id)
    return row["state"] == "pending" and row["attempts"] == attempts


async def test_outbox_permanent_error_goes_dead_and_calls_on_dead(
    store: Store, make: Callable[..., Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    dead: list[Job] = []

    async def on_dead(job: Job) -> None:
        dead.append(job)

    async def refuse(job: Job) -> None:
        raise PermanentJobError("rejected " + "x" * 1000)

    caplog.set_level(logging.DEBUG, logger="agent.outbox")
    ob = make(on_dead=on_dead)
    ob.register("refuse", refuse, max_attempts=5)
    job_id = await ob.enqueue("refuse", {"nir": "1840112345678"}, key="secret-key")
    await ob.start()
    await ob.wait_idle(WAIT)
    row = await _row(store, job_id)
    assert row["state"] == "dead" and row["attempts"] == 1
    assert row["last_error"].startswith("PermanentJobError: rejected xxx") and len(row["last_error"]) == 500
    assert [(j.id, j.attempts, j.last_error) for j in dead] == [(job_id, 1, row["last_error"])]
    assert [j.id for j in await ob.dead_letters()] == [job_id]
    assert "PermanentJobError" in caplog.text
    assert "1840112345678" not in caplog.text and "rejected" not in caplog.text  # no payload, no message


async def test_outbox_max_attempts_goes_dead(store: Store, make: Callable[..., Outbox]) -> None:
    calls: list[int] = []
    dead: list[Job] = []

    async def broken(job: Job) -> None:
        calls.append(job.attempts)
        raise ValueError("nope")

    ob = make(on_dead=dead.append)  # a sync on_dead works too
    ob.register("broken", broken, max_attempts=3, base_delay=0.001, max_delay=0.002)
    job_id = await ob.enqueue("broken", {}, key="k")
    await ob.start()
    await _until(lambda: _state_is(store, job_id, "dead"))
    await ob.wait_idle(WAIT)
    assert calls == [0, 1, 2]
    assert (await _row(store, job_id))["attempts"] == 3
    assert [(j.id, j.attempts, j.last_error) for j in dead] == [(job_id, 3, "ValueError: nope")]


async def _state_is(store: Store, job_id: int, state: str) -> bool:
    return (await _row(store, job_id))["state"] == state


async def test_outbox_on_dead_errors_are_contained(store: Store, make: Callable[..., Outbox]) -> None:
    def on_dead(job: Job) -> None:
        raise RuntimeError("tray is gone")

    async def refuse(job: Job) -> None:
        raise PermanentJobError("no")

    async def fine(job: Job) -> None:
        pass

    ob = make(on_dead=on_dead)
    ob.register("refuse", refuse)
    ob.register("fine", fine)
    await ob.enqueue("refuse", {}, key="a")
    await ob.start()
    await ob.wait_idle(WAIT)
    await ob.enqueue("fine", {}, key="b")  # the dispatcher survived
    await ob.wait_idle(WAIT)
    assert await ob.stats() == {"pending": 0, "running": 0, "done": 1, "dead": 1}


async def test_outbox_retry_from_dead(store: Store, make: Callable[..., Outbox]) -> None:
    fail = True

    async def handler(job: Job) -> None:
        if fail:
            raise PermanentJobError("no recipient")

    ob = make()
    ob.register("send", handler)
    job_id = await ob.enqueue("send", {}, key="k")
    await ob.start()
    await ob.wait_idle(WAIT)
    assert (await _row(store, job_id))["state"] == "dead"
    fail = False
    assert await ob.retry(job_id) is True
    await ob.wait_idle(WAIT)
    row = await _row(store, job_id)
    assert row["state"] == "done"
    assert await ob.retry(job_id) is False  # only dead jobs
    assert await ob.retry(9999) is False
    assert await ob.dead_letters() == []


async def test_outbox_concurrency_limit_respected(store: Store, make: Callable[..., Outbox]) -> None:
    limit, jobs = 3, 12
    active = peak = 0

    async def slow(job: Job) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1

    ob = make()
    ob.register("slow", slow, concurrency=limit)
    for i in range(jobs):
        await ob.enqueue("slow", {}, key=f"job-{i}")
    await ob.start()
    await ob.wait_idle(WAIT)
    assert peak == limit
    assert (await ob.stats())["done"] == jobs


async def test_outbox_unregistered_handler_waits_until_registered(store: Store, make: Callable[..., Outbox]) -> None:
    ran: list[str] = []

    async def later(job: Job) -> None:
        ran.append(job.key)

    ob = make()
    job_id = await ob.enqueue("later", {}, key="k")
    await ob.start()
    await ob.wait_idle(WAIT)  # idle: nothing due for a registered handler
    assert (await _row(store, job_id))["state"] == "pending" and ran == []
    ob.register("later", later)
    await ob.wait_idle(WAIT)
    assert ran == ["k"] and (await _row(store, job_id))["state"] == "done"


async def test_outbox_delayed_job_waits(store: Store, make: Callable[..., Outbox]) -> None:
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    ob = make()
    ob.register("h", handler)
    await ob.start()
    await ob.enqueue("h", {}, key="later", delay=3600)
    await ob.enqueue("h", {}, key="now")
    await ob.wait_idle(WAIT)
    assert ran == ["now"]
    assert (await ob.stats())["pending"] == 1


async def test_outbox_stop_leaves_inflight_job_pending_and_restart_runs_it(
    store: Store, make: Callable[..., Outbox]
) -> None:
    entered = asyncio.Event()
    finished: list[str] = []

    async def stuck(job: Job) -> None:
        entered.set()
        await asyncio.Event().wait()

    async def quick(job: Job) -> None:
        finished.append(job.key)

    first = make()
    first.register("send", stuck)
    job_id = await first.enqueue("send", {}, key="k")
    await first.start()
    async with asyncio.timeout(WAIT):
        await entered.wait()
    assert (await _row(store, job_id))["state"] == "running"
    await first.stop(grace=0.01)
    row = await _row(store, job_id)
    assert row["state"] == "pending" and row["attempts"] == 0 and row["last_error"] is None

    second = make()
    second.register("send", quick)
    await second.start()
    await second.wait_idle(WAIT)
    assert finished == ["k"] and (await _row(store, job_id))["state"] == "done"


async def test_outbox_stop_lets_handlers_finish_within_grace(store: Store, make: Callable[..., Outbox]) -> None:
    entered = asyncio.Event()

    async def short(job: Job) -> None:
        entered.set()
        await asyncio.sleep(0.01)

    ob = make()
    ob.register("send", short)
    job_id = await ob.enqueue("send", {}, key="k")
    await ob.start()
    async with asyncio.timeout(WAIT):
        await entered.wait()
    await ob.stop(grace=WAIT)
    assert (await _row(store, job_id))["state"] == "done"


async def test_outbox_start_requeues_jobs_left_running(store: Store, make: Callable[..., Outbox]) -> None:
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    ob = make()
    job_id = await ob.enqueue("h", {}, key="k")
    await store.execute("UPDATE outbox SET state = 'running' WHERE id = ?", (job_id,))  # as a crash leaves it
    ob.register("h", handler)
    await ob.start()
    await ob.wait_idle(WAIT)
    assert ran == ["k"] and (await _row(store, job_id))["state"] == "done"


async def test_outbox_duplicate_register_refused(make: Callable[..., Outbox]) -> None:
    async def handler(job: Job) -> None:
        pass

    ob = make()
    ob.register("send", handler)
    with pytest.raises(RegistrationError):
        ob.register("send", handler, concurrency=2)
    with pytest.raises(RegistrationError):
        ob.register("other", handler, concurrency=0)
    with pytest.raises(RegistrationError):
        ob.register("", handler)


async def test_outbox_wait_idle_requires_start(make: Callable[..., Outbox]) -> None:
    with pytest.raises(RuntimeError):
        await make().wait_idle(0.1)


async def test_stats_answered_from_memory_until_the_outbox_writes(store: Store, make: Callable[..., Outbox],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18 item 7: `agent.info` read the outbox table on every call (a store-thread hop each time)."""
    queries: list[str] = []
    original = store.fetchall

    async def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(sql)
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(store, "fetchall", counting)
    ob = make()
    assert (await ob.stats())["pending"] == 0
    results = await asyncio.gather(*(ob.stats() for _ in range(20)))
    assert all(r == results[0] for r in results)
    assert len(queries) == 1  # cached, and concurrent callers share one query
    await ob.enqueue("later.handler", {"x": 1}, key="k1")
    assert (await ob.stats())["pending"] == 1  # a write invalidates at once
    assert len(queries) == 2
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        done.set()

    ob.register("later.handler", handler)
    await ob.start()
    await ob.wait_idle(WAIT)
    assert done.is_set()
    stats = await ob.stats()
    assert stats["done"] == 1 and sum(stats.values()) == 1  # the claim and the outcome were seen too


async def test_shared_outbox_stats_see_other_workstations_within_the_ttl(
        request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared (PostgreSQL) outbox is written by the other workstations too: cached counts expire."""
    import agent.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "SHARED_STATS_TTL", 0.2)
    url = request.getfixturevalue("pg_url")
    mine: Any = make_store(url, tmp_path / "a.db")
    theirs: Any = make_store(url, tmp_path / "b.db")
    await mine.open()
    await theirs.open()
    try:
        here, there = Outbox(mine, owner="poste-1"), Outbox(theirs, owner="poste-2")
        before = (await here.stats())["pending"]
        await there.enqueue("shared.later", {"n": 1}, key=f"shared-{tmp_path.name}")
        await asyncio.sleep(0.3)
        assert (await here.stats())["pending"] == before + 1
    finally:
        await mine.close()
        await theirs.close()
