"""Ordonnances made while the practice's database is away (shared store only): kept in the local spool.

The practitioner still gets the ordonnance: the téléservice is asked (a national service, not the
practice's database), the PDF is made and printed. What the database would keep (the ordonnance row and
its sharing job, `document_validated`, for the DMP and MSSanté) goes to the workstation's spool
(agent/spool.py) as one operation and is merged, once, in one transaction when the database is back.

The patient's qualified INS cannot be read while away, so the téléservice is asked without it (as for a
patient whose identity is not qualified). At the merge the INS is read on the shared record and, when the
identity is qualified, goes into the shared document's metadata, as it would have at creation.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict
from typing import Any

from agent.documents import JOB_HANDLER, PatientIns, ValidatedDocument
from agent.outbox import insert_jobs
from agent.spool import SpoolOp
from plugins.eprescription import repository as repo

SPOOL_KIND = "eprescription.document"
QUEUED_MESSAGE = ("Base du cabinet injoignable : ordonnance faite et gardée sur ce poste ; elle sera enregistrée "
                  "et partagée (DMP, messagerie) dès son retour, avec l'INS du patient s'il est qualifié.")


def spooled(row: repo.DocumentRow, document: ValidatedDocument, identity_id: str | None) -> dict[str, Any]:
    """The operation's payload: the row (PDF in base64), the document to share, the identity to read."""
    data = asdict(row)
    data["pdf"] = base64.b64encode(row.pdf).decode("ascii")
    return {"row": data, "document": document.to_payload(), "identity_id": identity_id}


def merge(conn: Any, op: SpoolOp) -> None:
    """agent/spool.py `Apply`: the row (unless there already), its INS if qualified now, its sharing job."""
    from plugins.eprescription.service import _read_ins

    data = dict(op.payload["row"])
    data["pdf"] = base64.b64decode(data["pdf"])
    row = repo.DocumentRow(**data)
    document = dict(op.payload["document"])
    identity_id = op.payload.get("identity_id")
    if identity_id and row.patient_ins is None:
        ins = _read_ins(conn, str(identity_id))
        if isinstance(ins, dict):
            row.patient_ins = ins
            document["patient_ins"] = asdict(PatientIns(**ins))
    if repo.get(conn, row.id) is None:
        repo.insert(conn, row)
    ValidatedDocument.from_payload(document)  # still a well-formed document (a bug here must not be merged)
    now = time.time()
    ids, _ = insert_jobs(conn, handler=JOB_HANDLER, due=now, now=now, shared=True,
                         rows=[(f"document:{row.id}", json.dumps({"document": document}, separators=(",", ":"),
                                                                 ensure_ascii=False))])  # as publish() queues it
    repo.set_document_job(conn, row.id, ids[0])
    return None
