"""The e-prescription table: every ordonnance produced, its PDF, the téléservice outcome and printing.

Runs on the store thread only. The PDF stays here whatever happens to printing or sharing: a failed
print can be retried, an export redone, and a scanned QR code finds the ordonnance back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

NAMESPACE = "eprescription"

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE eprescription_documents (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        prescription_date TEXT NOT NULL,
        page_size TEXT NOT NULL,
        teleservice_state TEXT NOT NULL CHECK (teleservice_state IN ('ok', 'ko', 'timeout', 'disabled')),
        identifier TEXT,
        reason TEXT,
        error_code TEXT,
        elapsed_ms REAL,
        pdf BLOB NOT NULL,
        prescription TEXT NOT NULL,
        patient_ins TEXT,
        document_job INTEGER,
        print_state TEXT,
        print_message TEXT,
        printed_at REAL
    );
    CREATE UNIQUE INDEX eprescription_identifier ON eprescription_documents (identifier)
        WHERE identifier IS NOT NULL;
    """,
}


@dataclass
class DocumentRow:
    id: str
    created_at: float
    prescription_date: str
    page_size: str
    teleservice_state: str
    identifier: str | None
    reason: str | None
    error_code: str | None
    elapsed_ms: float | None
    pdf: bytes
    prescription: dict[str, Any]
    patient_ins: dict[str, str] | None
    document_job: int | None
    print_state: str | None
    print_message: str | None
    printed_at: float | None

    @property
    def code_present(self) -> bool:
        return self.teleservice_state == "ok" and self.identifier is not None

    def summary(self) -> dict[str, Any]:
        """What the LGC sees (no PDF, no patient data)."""
        return {
            "prescription_id": self.id, "created_at": self.created_at, "date": self.prescription_date,
            "page_size": self.page_size, "code_present": self.code_present, "identifier": self.identifier,
            "teleservice": {"state": self.teleservice_state, "reason": self.reason, "error_code": self.error_code,
                            "elapsed_ms": self.elapsed_ms},
            "patient_ins_qualified": self.patient_ins is not None, "document_job": self.document_job,
            "print": {"state": self.print_state, "message": self.print_message, "printed_at": self.printed_at},
        }


def _row(r: sqlite3.Row) -> DocumentRow:
    d = dict(r)
    d["prescription"] = json.loads(d["prescription"])
    d["patient_ins"] = json.loads(d["patient_ins"]) if d["patient_ins"] else None
    return DocumentRow(**d)


def insert(conn: sqlite3.Connection, row: DocumentRow) -> None:
    conn.execute(
        "INSERT INTO eprescription_documents (id, created_at, prescription_date, page_size, teleservice_state,"
        " identifier, reason, error_code, elapsed_ms, pdf, prescription, patient_ins, document_job, print_state,"
        " print_message, printed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row.id, row.created_at, row.prescription_date, row.page_size, row.teleservice_state, row.identifier,
         row.reason, row.error_code, row.elapsed_ms, row.pdf, json.dumps(row.prescription, ensure_ascii=False),
         json.dumps(row.patient_ins) if row.patient_ins else None, row.document_job, row.print_state,
         row.print_message, row.printed_at),
    )


def get(conn: sqlite3.Connection, prescription_id: str) -> DocumentRow | None:
    r = conn.execute("SELECT * FROM eprescription_documents WHERE id = ?", (prescription_id,)).fetchone()
    return None if r is None else _row(r)


def find_by_identifier(conn: sqlite3.Connection, identifier: str) -> DocumentRow | None:
    r = conn.execute("SELECT * FROM eprescription_documents WHERE identifier = ?", (identifier,)).fetchone()
    return None if r is None else _row(r)


def set_document_job(conn: sqlite3.Connection, prescription_id: str, job_id: int) -> None:
    conn.execute("UPDATE eprescription_documents SET document_job = ? WHERE id = ?", (job_id, prescription_id))


def record_print(conn: sqlite3.Connection, prescription_id: str, state: str, message: str | None) -> None:
    conn.execute(
        "UPDATE eprescription_documents SET print_state = ?, print_message = ?, printed_at = ? WHERE id = ?",
        (state, message, time.time(), prescription_id),
    )
