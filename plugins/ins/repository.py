"""The INS plugin's tables and the queries on them (runs on the store thread only).

Three tables: `ins_identities` (one row per identity the agent tracks, with its local traits, status,
INS and last INSi outcome), `ins_audit` (every status change: who, when, how, which document, traits
before and after, the INSi MessageID) and `ins_insi_calls` (every INSi exchange with its raw request
and response: the only place raw national-service messages are kept).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugins.ins.matching import match_key

NAMESPACE = "ins"

MIGRATIONS: dict[int, str | Callable[[Any], None]] = {
    1: """
    CREATE TABLE ins_identities (
        id TEXT PRIMARY KEY,
        local_id TEXT,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '[]',
        traits TEXT NOT NULL,
        traits_key TEXT NOT NULL,
        ins_matricule TEXT,
        ins_key TEXT,
        ins_oid TEXT,
        expected_ins TEXT,
        card TEXT,
        insi TEXT,
        insi_state TEXT NOT NULL DEFAULT 'idle',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        insi_requested_at REAL,
        insi_at REAL,
        qualified_at REAL
    );
    CREATE INDEX ins_identities_local ON ins_identities (local_id);
    CREATE INDEX ins_identities_traits ON ins_identities (traits_key);
    CREATE TABLE ins_audit (
        id INTEGER PRIMARY KEY,
        identity_id TEXT NOT NULL REFERENCES ins_identities (id),
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        method TEXT,
        document_type TEXT,
        status_before TEXT,
        status_after TEXT,
        traits_before TEXT,
        traits_after TEXT,
        insi_message_id TEXT
    );
    CREATE INDEX ins_audit_identity ON ins_audit (identity_id);
    CREATE TABLE ins_insi_calls (
        id INTEGER PRIMARY KEY,
        identity_id TEXT,
        operation TEXT NOT NULL,
        message_id TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        http_status INTEGER,
        error TEXT,
        request_xml TEXT NOT NULL,
        response_xml TEXT
    );
    CREATE INDEX ins_insi_calls_identity ON ins_insi_calls (identity_id);
    CREATE TABLE ins_batches (
        id TEXT PRIMARY KEY,
        total INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE ins_batch_items (
        batch_id TEXT NOT NULL REFERENCES ins_batches (id),
        position INTEGER NOT NULL,
        identity_id TEXT NOT NULL REFERENCES ins_identities (id),
        state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'skipped')),
        PRIMARY KEY (batch_id, position)
    );
    """,
    # One matching rule for every source (plugins/ins/matching.py): the strict traits' indexed part, and
    # the INS to find an identity by.
    2: """
    ALTER TABLE ins_identities ADD COLUMN match_key TEXT;
    CREATE INDEX ins_identities_match ON ins_identities (match_key);
    CREATE INDEX ins_identities_ins ON ins_identities (ins_matricule);
    """,
    3: lambda conn: _backfill_match_keys(conn),
    # The start-of-day batch page (agent/web/batch.html): what the list was, and its lines refused at once.
    4: """
    ALTER TABLE ins_batches ADD COLUMN name TEXT;
    ALTER TABLE ins_batches ADD COLUMN rejected TEXT;
    """,
    # The qualification audit trail is append-only, in the database itself: no workstation's agent (nor a
    # stray script on the shared server) can change or remove a line once written.
    5: lambda conn: _audit_append_only(conn),
}

AUDIT_APPEND_ONLY = "ins_audit est en ajout seul : une ligne du journal des qualifications ne se modifie pas"


def _audit_append_only(conn: Any) -> None:
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        conn.execute(
            "CREATE FUNCTION ins_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN RAISE EXCEPTION '{AUDIT_APPEND_ONLY}'; END $$")
        conn.execute("CREATE TRIGGER ins_audit_no_update BEFORE UPDATE OR DELETE ON ins_audit"
                     " FOR EACH ROW EXECUTE FUNCTION ins_audit_append_only()")
        return
    for event in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER ins_audit_no_{event.lower()} BEFORE {event} ON ins_audit"
                     f" BEGIN SELECT RAISE(ABORT, '{AUDIT_APPEND_ONLY}'); END")


def _backfill_match_keys(conn: Any) -> None:
    """Identities stored before migration 2 get their match key (computed in Python: it folds accents)."""
    rows = conn.execute("SELECT id, traits FROM ins_identities WHERE match_key IS NULL").fetchall()
    for r in rows:
        conn.execute("UPDATE ins_identities SET match_key = ? WHERE id = ?", (match_key(json.loads(r[1])), r[0]))


@dataclass
class IdentityRow:
    id: str
    local_id: str | None
    source: str
    status: str
    attributes: list[str]
    traits: dict[str, Any]
    traits_key: str
    ins: dict[str, str] | None
    insi: dict[str, Any] | None
    insi_state: str
    created_at: float
    updated_at: float
    insi_requested_at: float | None
    insi_at: float | None
    qualified_at: float | None
    expected_ins: dict[str, str] | None = None  # the INS read from a scanned Datamatrix, to check against INSi
    card: dict[str, Any] | None = None  # the Vitale beneficiary as read, for `rechercherInsAvecCarteVitale`


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _row(r: sqlite3.Row) -> IdentityRow:
    ins = None
    if r["ins_matricule"]:
        ins = {"matricule": r["ins_matricule"], "key": r["ins_key"], "oid": r["ins_oid"]}
    return IdentityRow(
        id=r["id"], local_id=r["local_id"], source=r["source"], status=r["status"],
        attributes=json.loads(r["attributes"]), traits=json.loads(r["traits"]), traits_key=r["traits_key"],
        ins=ins, insi=json.loads(r["insi"]) if r["insi"] else None, insi_state=r["insi_state"],
        created_at=r["created_at"], updated_at=r["updated_at"],
        insi_requested_at=r["insi_requested_at"], insi_at=r["insi_at"], qualified_at=r["qualified_at"],
        expected_ins=json.loads(r["expected_ins"]) if r["expected_ins"] else None,
        card=json.loads(r["card"]) if r["card"] else None,
    )


def get(conn: sqlite3.Connection, identity_id: str) -> IdentityRow | None:
    r = conn.execute("SELECT * FROM ins_identities WHERE id = ?", (identity_id,)).fetchone()
    return None if r is None else _row(r)


def find_by_local_id(conn: sqlite3.Connection, local_id: str) -> IdentityRow | None:
    r = conn.execute(
        "SELECT * FROM ins_identities WHERE local_id = ? ORDER BY updated_at DESC LIMIT 1", (local_id,)
    ).fetchone()
    return None if r is None else _row(r)


def find_by_traits(conn: sqlite3.Connection, traits_key: str) -> IdentityRow | None:
    r = conn.execute(
        "SELECT * FROM ins_identities WHERE traits_key = ? ORDER BY updated_at DESC LIMIT 1", (traits_key,)
    ).fetchone()
    return None if r is None else _row(r)


def find_by_ins(conn: sqlite3.Connection, matricule: str) -> list[IdentityRow]:
    """The identities INSi gave this 13-character matricule (the caller checks the key and OID)."""
    rows = conn.execute("SELECT * FROM ins_identities WHERE ins_matricule = ? ORDER BY updated_at DESC",
                        (matricule,)).fetchall()
    return [_row(r) for r in rows]


def find_by_match_key(conn: sqlite3.Connection, key: str) -> list[IdentityRow]:
    """Candidates for the strict-traits rule (plugins/ins/matching.py decides among them)."""
    rows = conn.execute("SELECT * FROM ins_identities WHERE match_key = ? ORDER BY updated_at DESC LIMIT 20",
                        (key,)).fetchall()
    return [_row(r) for r in rows]


def insert(conn: sqlite3.Connection, row: IdentityRow) -> None:
    conn.execute(
        "INSERT INTO ins_identities (id, local_id, source, status, attributes, traits, traits_key, ins_matricule,"
        " ins_key, ins_oid, insi, insi_state, created_at, updated_at, insi_requested_at, insi_at,"
        " qualified_at, expected_ins, card, match_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row.id, row.local_id, row.source, row.status, json.dumps(row.attributes), json.dumps(row.traits),
         row.traits_key, *(_ins_cols(row.ins)), _json(row.insi), row.insi_state,
         row.created_at, row.updated_at, row.insi_requested_at, row.insi_at, row.qualified_at,
         _json(row.expected_ins), _json(row.card), match_key(row.traits)),
    )


def update(conn: sqlite3.Connection, row: IdentityRow) -> None:
    row.updated_at = time.time()
    conn.execute(
        "UPDATE ins_identities SET local_id = ?, status = ?, attributes = ?, traits = ?, traits_key = ?,"
        " ins_matricule = ?, ins_key = ?, ins_oid = ?, insi = ?, insi_state = ?, updated_at = ?,"
        " insi_requested_at = ?, insi_at = ?, qualified_at = ?, expected_ins = ?, card = ?, match_key = ?"
        " WHERE id = ?",
        (row.local_id, row.status, json.dumps(row.attributes), json.dumps(row.traits), row.traits_key,
         *(_ins_cols(row.ins)), _json(row.insi), row.insi_state,
         row.updated_at, row.insi_requested_at, row.insi_at, row.qualified_at, _json(row.expected_ins),
         _json(row.card), match_key(row.traits), row.id),
    )


def _ins_cols(ins: dict[str, str] | None) -> tuple[str | None, str | None, str | None]:
    if not ins:
        return (None, None, None)
    return (ins["matricule"], ins["key"], ins["oid"])


def audit(conn: sqlite3.Connection, identity_id: str, *, actor: dict[str, Any], action: str,
          method: str | None = None, document_type: str | None = None, status_before: str | None = None,
          status_after: str | None = None, traits_before: dict[str, Any] | None = None,
          traits_after: dict[str, Any] | None = None, insi_message_id: str | None = None) -> None:
    conn.execute(
        "INSERT INTO ins_audit (identity_id, at, actor, action, method, document_type, status_before, status_after,"
        " traits_before, traits_after, insi_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (identity_id, time.time(), json.dumps(actor), action, method, document_type, status_before, status_after,
         json.dumps(traits_before) if traits_before is not None else None,
         json.dumps(traits_after) if traits_after is not None else None, insi_message_id),
    )


def audit_rows(conn: sqlite3.Connection, identity_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM ins_audit WHERE identity_id = ? ORDER BY id", (identity_id,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        for k in ("actor", "traits_before", "traits_after"):
            d[k] = json.loads(d[k]) if d[k] else None
        out.append(d)
    return out


def record_call(conn: sqlite3.Connection, identity_id: str | None, *, operation: str, message_id: str,
                started_at: float, duration_ms: float, http_status: int | None, error: str | None,
                request_xml: str, response_xml: str | None) -> None:
    conn.execute(
        "INSERT INTO ins_insi_calls (identity_id, operation, message_id, started_at, duration_ms, http_status, error,"
        " request_xml, response_xml) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (identity_id, operation, message_id, started_at, duration_ms, http_status, error, request_xml, response_xml),
    )


def create_batch(conn: sqlite3.Connection, batch_id: str, items: list[tuple[str, str]], *, name: str | None = None,
                 rejected: list[dict[str, Any]] | None = None) -> None:
    """`items`: (identity_id, state) in the order of the LGC's list; `rejected`: the lines refused at once."""
    conn.execute(
        "INSERT INTO ins_batches (id, total, created_at, name, rejected) VALUES (?, ?, ?, ?, ?)",
        (batch_id, len(items), time.time(), name, json.dumps(rejected or [])),
    )
    conn.executemany(
        "INSERT INTO ins_batch_items (batch_id, position, identity_id, state) VALUES (?, ?, ?, ?)",
        [(batch_id, i, identity_id, state) for i, (identity_id, state) in enumerate(items)],
    )


def finish_batch_item(conn: sqlite3.Connection, batch_id: str, position: int) -> tuple[int, int]:
    """Mark one item done; returns (done, total) for the progress event."""
    conn.execute(
        "UPDATE ins_batch_items SET state = 'done' WHERE batch_id = ? AND position = ? AND state = 'pending'",
        (batch_id, position),
    )
    return batch_progress(conn, batch_id)


def batch_progress(conn: sqlite3.Connection, batch_id: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT COUNT(*), SUM(CASE WHEN state != 'pending' THEN 1 ELSE 0 END) FROM ins_batch_items"
        " WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return int(row[1] or 0), int(row[0])


def audit_between(conn: sqlite3.Connection, start: float, end: float) -> list[dict[str, Any]]:
    """Every audit entry of [start, end), oldest first, with the identity's current status, traits and INS."""
    rows = conn.execute(
        "SELECT a.*, i.status AS current_status, i.traits AS current_traits, i.ins_matricule, i.ins_key, i.ins_oid"
        " FROM ins_audit a JOIN ins_identities i ON i.id = a.identity_id WHERE a.at >= ? AND a.at < ?"
        " ORDER BY a.at, a.id", (start, end)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        for k in ("actor", "traits_before", "traits_after", "current_traits"):
            d[k] = json.loads(d[k]) if d[k] else None
        out.append(d)
    return out


def batch_rows(conn: sqlite3.Connection, batch_id: str | None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One batch (the latest when `batch_id` is None) and its lines with their identity's current state."""
    if batch_id is None:
        b = conn.execute("SELECT * FROM ins_batches ORDER BY created_at DESC LIMIT 1").fetchone()
    else:
        b = conn.execute("SELECT * FROM ins_batches WHERE id = ?", (batch_id,)).fetchone()
    if b is None:
        return None, []
    batch = {"batch_id": b["id"], "total": b["total"], "created_at": b["created_at"], "name": b["name"],
             "rejected": json.loads(b["rejected"]) if b["rejected"] else []}
    rows = conn.execute(
        "SELECT bi.position, bi.state AS item_state, i.id AS identity_id, i.status, i.traits, i.insi, i.insi_state"
        " FROM ins_batch_items bi JOIN ins_identities i ON i.id = bi.identity_id WHERE bi.batch_id = ?"
        " ORDER BY bi.position", (b["id"],)).fetchall()
    lines = [{"position": r["position"], "item_state": r["item_state"], "identity_id": r["identity_id"],
              "status": r["status"], "traits": json.loads(r["traits"]),
              "insi": json.loads(r["insi"]) if r["insi"] else None, "insi_state": r["insi_state"]} for r in rows]
    return batch, lines


Work = Callable[[sqlite3.Connection], Any]


def qualified_ins(conn: sqlite3.Connection, identity_id: str) -> dict[str, str] | None | bool:
    """Read API for other plugins (e.g. e-prescription metadata): the INS of `identity_id` if QUAL.

    Returns `{"matricule": 15 characters, "oid": ...}` for a qualified identity, None when the identity
    exists but is not qualified, False when it is unknown.
    """
    r = conn.execute(
        "SELECT status, ins_matricule, ins_key, ins_oid FROM ins_identities WHERE id = ?", (identity_id,)
    ).fetchone()
    if r is None:
        return False
    if r[0] != "QUAL" or not r[1]:
        return None
    return {"matricule": r[1] + (r[2] or ""), "oid": r[3]}
