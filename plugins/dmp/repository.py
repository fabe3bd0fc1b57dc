"""SQLite tables of the DMP plugin (run on the store thread through `store.transaction`).

`dmp_documents`: one row per document offered to the DMP, keyed by the document id (the dedup key of
`document_validated`), with its state, the French reason, the XDS uniqueId, the masking options and the
document payload (PDF included; kept after the send for ITI-57 updates); `in_flight` = 1 once an ITI-41 may have
reached the DMP until its answer is recorded: after a crash, the next run asks the DMP (TD3.1) before
sending again. `dmp_consent`: the patient's consultation consent / feeding opposition, who, when, how.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

NAMESPACE = "dmp"
MIGRATIONS = {
    1: """
CREATE TABLE dmp_documents (
    document_id TEXT PRIMARY KEY,
    identity_id TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    unique_id TEXT NOT NULL,
    entry_uuid TEXT,
    type_code TEXT NOT NULL,
    title TEXT NOT NULL,
    masking TEXT NOT NULL DEFAULT '[]',
    meta_version INTEGER NOT NULL DEFAULT 1,
    in_flight INTEGER NOT NULL DEFAULT 0,
    payload TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX dmp_documents_identity ON dmp_documents(identity_id);
CREATE INDEX dmp_documents_state ON dmp_documents(state);
CREATE TABLE dmp_consent (
    identity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    granted INTEGER NOT NULL,
    by_name TEXT,
    by_id TEXT,
    how TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (identity_id, kind)
);
""",
}
STATES = ("queued", "sending", "sent", "failed", "cancelled")
_COLUMNS = ("document_id, identity_id, state, reason, unique_id, entry_uuid, type_code, title, masking, meta_version, "
            "in_flight, payload, created_at, updated_at, sent_at")


@dataclass
class Row:
    document_id: str
    identity_id: str | None
    state: str
    reason: str | None
    unique_id: str
    entry_uuid: str | None
    type_code: str
    title: str
    masking: list[str]
    meta_version: int
    in_flight: bool
    payload: dict[str, Any] | None
    created_at: float
    updated_at: float
    sent_at: float | None

    def public(self) -> dict[str, Any]:
        """What the LGC and the UI see (no PDF, no patient data)."""
        return {"document_id": self.document_id, "identity_id": self.identity_id, "state": self.state,
                "reason": self.reason, "dmp_unique_id": self.unique_id if self.state == "sent" else None,
                "type_code": self.type_code, "title": self.title, "masking": self.masking,
                "created_at": self.created_at, "sent_at": self.sent_at}


def _row(r: sqlite3.Row | tuple[Any, ...]) -> Row:
    return Row(document_id=r[0], identity_id=r[1], state=r[2], reason=r[3], unique_id=r[4], entry_uuid=r[5],
               type_code=r[6], title=r[7], masking=json.loads(r[8]), meta_version=r[9], in_flight=bool(r[10]),
               payload=json.loads(r[11]) if r[11] else None, created_at=r[12], updated_at=r[13], sent_at=r[14])


def insert(conn: sqlite3.Connection, *, document_id: str, identity_id: str | None, state: str, reason: str | None,
           unique_id: str, type_code: str, title: str, masking: list[str], payload: dict[str, Any]) -> bool:
    """Insert once (False when the document is already known: `document_validated` is at least once)."""
    now = time.time()
    cur = conn.execute(
        f"INSERT OR IGNORE INTO dmp_documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, 1, 0, ?, ?, ?, NULL)",
        (document_id, identity_id, state, reason, unique_id, type_code, title, json.dumps(masking),
         json.dumps(payload), now, now))
    return cur.rowcount == 1


_LIGHT = _COLUMNS.replace("payload", "NULL")


def get(conn: sqlite3.Connection, document_id: str, *, payload: bool = True) -> Row | None:
    """The row; with `payload=False` without the document (PDF) itself: what a state change needs."""
    columns = _COLUMNS if payload else _LIGHT
    r = conn.execute(f"SELECT {columns} FROM dmp_documents WHERE document_id = ?", (document_id,)).fetchone()
    return _row(r) if r else None


def by_identity(conn: sqlite3.Connection, identity_id: str) -> list[Row]:
    rows = conn.execute(f"SELECT {_LIGHT} FROM dmp_documents WHERE identity_id = ? ORDER BY created_at",
                        (identity_id,)).fetchall()
    return [_row(r) for r in rows]


def update(conn: sqlite3.Connection, document_id: str, *, only_from: tuple[str, ...] | None = None,
           **changes: Any) -> bool:
    """Set columns; with `only_from`, only while the state is one of those (a cancel cannot be overtaken)."""
    if "masking" in changes:
        changes["masking"] = json.dumps(changes["masking"])
    if "payload" in changes and changes["payload"] is not None:
        changes["payload"] = json.dumps(changes["payload"])
    changes["updated_at"] = time.time()
    sets = ", ".join(f"{k} = ?" for k in changes)
    sql = f"UPDATE dmp_documents SET {sets} WHERE document_id = ?"
    args: list[Any] = [*changes.values(), document_id]
    if only_from:
        sql += f" AND state IN ({','.join('?' * len(only_from))})"
        args += list(only_from)
    return conn.execute(sql, args).rowcount == 1


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, COUNT(*) FROM dmp_documents GROUP BY state").fetchall())


def set_consent(conn: sqlite3.Connection, identity_id: str, kind: str, *, granted: bool, by_name: str | None,
                by_id: str | None, how: str) -> dict[str, Any]:
    now = time.time()
    conn.execute("INSERT OR REPLACE INTO dmp_consent (identity_id, kind, granted, by_name, by_id, how, at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (identity_id, kind, int(granted), by_name, by_id, how, now))
    return {"identity_id": identity_id, "kind": kind, "granted": granted, "by": by_name, "how": how, "at": now}


def consent(conn: sqlite3.Connection, identity_id: str, kind: str) -> dict[str, Any] | None:
    r = conn.execute("SELECT granted, by_name, how, at FROM dmp_consent WHERE identity_id = ? AND kind = ?",
                     (identity_id, kind)).fetchone()
    if r is None:
        return None
    return {"identity_id": identity_id, "kind": kind, "granted": bool(r[0]), "by": r[1], "how": r[2], "at": r[3]}
