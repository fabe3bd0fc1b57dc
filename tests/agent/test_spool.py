"""agent.spool: the local spool file (order, durability across reopen) and what `vigie doctor` says of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import config_from_dict
from agent.doctor import WARN, check_store
from agent.spool import Spool, waiting_in


async def _fill(path: Path, n: int) -> list[str]:
    spool = Spool(path)
    await spool.open()
    ids = [await spool.add("test.kind", {"i": i}) for i in range(n)]
    await spool.close()
    return ids


async def test_spool_keeps_operations_in_order_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "spool.db"
    ids = await _fill(path, 3)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # patient data: the user's only, like the store
    spool = Spool(path)
    await spool.open()
    try:
        assert spool.count == 3
        ops = await spool.ops()
        assert [op.op_id for op in ops] == ids and [op.payload["i"] for op in ops] == [0, 1, 2]
        assert await spool.add("test.kind", {"i": 9}, op_id=ids[0]) == ids[0]  # same id: kept once
        assert spool.count == 3
        assert await spool.set_result(ids[1], {"answer": "found"})
        assert (await spool.get(ids[1])).result == {"answer": "found"}  # type: ignore[union-attr]
        await spool.remove(ids[0])
        assert spool.count == 2 and [op.op_id for op in await spool.ops()] == ids[1:]
        assert not await spool.set_result(ids[0], {"answer": "late"})  # merged meanwhile: nothing to hold
    finally:
        await spool.close()
    assert waiting_in(path) == 2 and waiting_in(tmp_path / "none.db") == 0


def test_spool_doctor_says_what_waits_on_this_workstation(tmp_path: Path, pg_url: str) -> None:
    config = config_from_dict({"store": {"url": pg_url, "path": str(tmp_path / "data" / "vigie.sqlite3")}})
    assert check_store(config).level == "ok"
    asyncio.run(_fill(tmp_path / "data" / "spool.db", 2))
    check = check_store(config)
    assert check.level == WARN
    assert "2 opérations gardées sur ce poste pendant une coupure, en attente de report" in check.detail, check
