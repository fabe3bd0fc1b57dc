"""The MSSanté plugin's tables (store thread only).

- `mss_messages`: every message we send, keyed by its Message-ID (the idempotence key), with the exact
  bytes submitted (a retry resends the same bytes), its state and per-recipient states;
- `mss_documents`: validated documents kept for a later `mss.send` (other recipients);
- `mss_inbox`: every incoming message (raw kept: nothing is lost, even when refused) and its verdict;
- `mss_oppositions`: a patient's recorded opposition to MSSanté sending;
- `mss_directory`: the Annuaire Santé cache; `mss_kv`: the inbox's last seen UID.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "mss"
ORDER = ("queued", "sending", "submitted", "sent", "delivered", "read")
FINAL = ("sent", "delivered", "read", "failed")

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE mss_messages (
        message_id TEXT PRIMARY KEY,
        document_id TEXT,
        identity_id TEXT,
        kind TEXT NOT NULL,
        recipients TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        dsn INTEGER NOT NULL DEFAULT 0,
        raw BLOB NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX mss_messages_document ON mss_messages (document_id);
    CREATE INDEX mss_messages_identity ON mss_messages (identity_id);
    CREATE TABLE mss_documents (document_id TEXT PRIMARY KEY, payload TEXT NOT NULL, created_at REAL NOT NULL);
    CREATE TABLE mss_inbox (
        id INTEGER PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        message_id TEXT,
        sender TEXT,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        ins TEXT,
        documents TEXT,
        raw BLOB NOT NULL,
        received_at REAL NOT NULL,
        UNIQUE (uidvalidity, uid)
    );
    CREATE TABLE mss_oppositions (identity_id TEXT PRIMARY KEY, opposed INTEGER NOT NULL, recorded_by TEXT,
                                  recorded_at REAL NOT NULL);
    CREATE TABLE mss_directory (query TEXT PRIMARY KEY, result TEXT NOT NULL, fetched_at REAL NOT NULL);
    CREATE TABLE mss_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The received-messages page (web/messages.html): what the list shows, and when it was seen there.
    2: """
    ALTER TABLE mss_inbox ADD COLUMN subject TEXT;
    ALTER TABLE mss_inbox ADD COLUMN patient TEXT;
    ALTER TABLE mss_inbox ADD COLUMN seen_at REAL;
    """,
}
SHOWN = ("document", "message")  # received kinds the page lists (receipts only move sent messages' states)


@dataclass
class RecipientState:
    address: str
    role: str
    name: str = ""
    state: str = "queued"
    reason: str | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "role": self.role, "name": self.name, "state": self.state,
                "reason": self.reason, "code": self.code}


@dataclass
class MessageRow:
    message_id: str
    document_id: str | None
    identity_id: str | None
    kind: str
    recipients: list[RecipientState]
    state: str
    reason: str | None
    dsn: bool
    raw: bytes = field(repr=False)
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        """What the LGC sees (no message body)."""
        return {"message_id": self.message_id, "document_id": self.document_id, "identity_id": self.identity_id,
                "kind": self.kind, "state": self.state, "reason": self.reason,
                "recipients": [r.to_dict() for r in self.recipients], "created_at": self.created_at,
                "updated_at": self.updated_at}


_COLS = "message_id, document_id, identity_id, kind, recipients, state, reason, dsn, raw, created_at, updated_at"


def _row(r: sqlite3.Row | tuple[Any, ...]) -> MessageRow:
    return MessageRow(r[0], r[1], r[2], r[3], [RecipientState(**x) for x in json.loads(r[4])], r[5], r[6],
                      bool(r[7]), bytes(r[8]), r[9], r[10])


def aggregate(recipients: list[RecipientState]) -> tuple[str, str | None]:
    """The message's state: the least advanced of its live recipients; failed when none is live."""
    live = [r for r in recipients if r.state != "failed"]
    failures = [r.reason for r in recipients if r.state == "failed" and r.reason]
    if not live:
        return "failed", failures[0] if failures else None
    state = min((r.state for r in live), key=ORDER.index)
    return state, failures[0] if failures else None


def insert_message(conn: sqlite3.Connection, row: MessageRow) -> bool:
    """False when a message with this Message-ID exists (idempotent)."""
    cur = conn.execute(
        f"INSERT INTO mss_messages ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (message_id) DO NOTHING",
        (row.message_id, row.document_id, row.identity_id, row.kind,
         json.dumps([r.to_dict() for r in row.recipients]), row.state, row.reason, int(row.dsn), row.raw,
         row.created_at, row.updated_at))
    return cur.rowcount == 1


def get_message(conn: sqlite3.Connection, message_id: str) -> MessageRow | None:
    r = conn.execute(f"SELECT {_COLS} FROM mss_messages WHERE message_id = ?", (message_id,)).fetchone()
    return _row(r) if r else None


def save_message(conn: sqlite3.Connection, row: MessageRow) -> None:
    row.updated_at = time.time()
    conn.execute("UPDATE mss_messages SET recipients = ?, state = ?, reason = ?, dsn = ?, updated_at = ? "
                 "WHERE message_id = ?", (json.dumps([r.to_dict() for r in row.recipients]), row.state, row.reason,
                                          int(row.dsn), row.updated_at, row.message_id))


def list_messages(conn: sqlite3.Connection, *, identity_id: str | None = None, document_id: str | None = None,
                  limit: int = 100) -> list[MessageRow]:
    where, args = [], []
    if identity_id:
        where.append("identity_id = ?")
        args.append(identity_id)
    if document_id:
        where.append("document_id = ?")
        args.append(document_id)
    sql = f"SELECT {_COLS} FROM mss_messages" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit)).fetchall()
    return [_row(r) for r in rows]


def keep_document(conn: sqlite3.Connection, document_id: str, payload: dict[str, Any]) -> None:
    conn.execute("INSERT INTO mss_documents VALUES (?, ?, ?) ON CONFLICT (document_id) DO NOTHING",
                 (document_id, json.dumps(payload), time.time()))


def get_document(conn: sqlite3.Connection, document_id: str) -> dict[str, Any] | None:
    r = conn.execute("SELECT payload FROM mss_documents WHERE document_id = ?", (document_id,)).fetchone()
    return json.loads(r[0]) if r else None


def opposed(conn: sqlite3.Connection, identity_id: str | None) -> bool:
    if not identity_id:
        return False
    r = conn.execute("SELECT opposed FROM mss_oppositions WHERE identity_id = ?", (identity_id,)).fetchone()
    return bool(r and r[0])


def set_opposition(conn: sqlite3.Connection, identity_id: str, value: bool, by: str) -> None:
    conn.execute("INSERT INTO mss_oppositions VALUES (?, ?, ?, ?) ON CONFLICT (identity_id) DO UPDATE SET "
                 "opposed = excluded.opposed, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
                 (identity_id, int(value), by, time.time()))


def kv_get(conn: sqlite3.Connection, key: str) -> str | None:
    r = conn.execute("SELECT value FROM mss_kv WHERE key = ?", (key,)).fetchone()
    return str(r[0]) if r else None


def kv_set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO mss_kv VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


@dataclass
class InboxRow:
    id: int
    uidvalidity: int
    uid: int
    message_id: str | None
    sender: str | None
    kind: str
    status: str
    reason: str | None
    ins: str | None
    documents: list[dict[str, Any]]
    received_at: float
    subject: str | None = None
    patient: dict[str, Any] | None = None  # {"name", "birth_date"} from the CDA header, when read
    seen_at: float | None = None

    def public(self) -> dict[str, Any]:
        return {"inbox_id": self.id, "message_id": self.message_id, "sender": self.sender, "kind": self.kind,
                "status": self.status, "reason": self.reason, "documents": self.documents,
                "received_at": self.received_at, "subject": self.subject, "patient": self.patient,
                "seen": self.seen_at is not None}


_INBOX = ("id, uidvalidity, uid, message_id, sender, kind, status, reason, ins, documents, received_at, subject, "
          "patient, seen_at")


def _inbox(r: sqlite3.Row | tuple[Any, ...]) -> InboxRow:
    return InboxRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9] or "[]"), r[10], r[11],
                    json.loads(r[12]) if r[12] else None, r[13])


def insert_inbox(conn: sqlite3.Connection, uidvalidity: int, uid: int, raw: bytes, *, message_id: str | None,
                 sender: str | None, kind: str, status: str, reason: str | None, ins: str | None,
                 documents: list[dict[str, Any]], subject: str | None = None,
                 patient: dict[str, Any] | None = None) -> int | None:
    row = conn.execute(
        "INSERT INTO mss_inbox (uidvalidity, uid, message_id, sender, kind, status, reason, ins, "
        "documents, raw, received_at, subject, patient) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (uidvalidity, uid) DO NOTHING RETURNING id",
        (uidvalidity, uid, message_id, sender, kind, status, reason, ins, json.dumps(documents), raw,
         time.time(), subject, json.dumps(patient) if patient else None)).fetchone()
    return int(row[0]) if row else None


def mark_seen(conn: sqlite3.Connection, inbox_id: int) -> bool | None:
    """True when it was unseen, False when already seen, None when unknown."""
    r = conn.execute("SELECT seen_at FROM mss_inbox WHERE id = ?", (inbox_id,)).fetchone()
    if r is None:
        return None
    if r[0] is not None:
        return False
    conn.execute("UPDATE mss_inbox SET seen_at = ? WHERE id = ?", (time.time(), inbox_id))
    return True


def unseen_count(conn: sqlite3.Connection) -> int:
    marks = ",".join("?" * len(SHOWN))
    return int(conn.execute(f"SELECT count(*) FROM mss_inbox WHERE seen_at IS NULL AND kind IN ({marks})",
                            SHOWN).fetchone()[0])


def get_inbox(conn: sqlite3.Connection, inbox_id: int) -> InboxRow | None:
    r = conn.execute(f"SELECT {_INBOX} FROM mss_inbox WHERE id = ?", (inbox_id,)).fetchone()
    return _inbox(r) if r else None


def inbox_raw(conn: sqlite3.Connection, inbox_id: int) -> bytes | None:
    r = conn.execute("SELECT raw FROM mss_inbox WHERE id = ?", (inbox_id,)).fetchone()
    return bytes(r[0]) if r else None


def list_inbox(conn: sqlite3.Connection, limit: int = 100) -> list[InboxRow]:
    rows = conn.execute(f"SELECT {_INBOX} FROM mss_inbox ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [_inbox(r) for r in rows]


def inbox_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM mss_inbox").fetchone()[0])
