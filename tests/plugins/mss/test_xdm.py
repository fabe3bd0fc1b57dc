"""XDM build and defensive read (hostile archives refused with a French reason), receipts and rules."""

from __future__ import annotations

import email
import hashlib
import io
import zipfile

import pytest

from plugins.common.clinical import cda
from plugins.common.clinical.example import example_metadata
from plugins.mss import recipients as rules
from plugins.mss.incoming import classify
from plugins.mss.message import Attachment, Outgoing, PatientLine, compose, subject
from plugins.mss.xdm import METADATA, XdmRefused, build_xdm, read_xdm
from tests.plugins.mss.conftest import MINIMAL_PDF


def _xdm() -> bytes:
    meta = example_metadata("doc-1")
    return build_xdm(meta, cda.build_cda(meta, MINIMAL_PDF), ["a@b.mssante.fr"], software="Vigie")


def test_xdm_roundtrip_checks_hash_and_recipients() -> None:
    content = read_xdm(_xdm())
    assert content.patient_ins == "297029912345697"
    assert content.intended_recipients == ["||^^Internet^a@b.mssante.fr"]
    doc = content.documents[0]
    assert doc.sha1 == hashlib.sha1(doc.content).hexdigest() and doc.type_code == "57833-6"


def test_xdm_build_is_deterministic() -> None:
    assert _xdm() == _xdm()


def _rezip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def _entries() -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(_xdm()))
    return {n: z.read(n) for n in z.namelist()}


def test_xdm_refuses_path_traversal() -> None:
    entries = _entries()
    entries["../../etc/cron.d/evil"] = b"x"
    with pytest.raises(XdmRefused, match="hors de l'archive"):
        read_xdm(_rezip(entries))
    entries = _entries()
    entries["/etc/passwd"] = b"x"
    with pytest.raises(XdmRefused, match="chemin absolu"):
        read_xdm(_rezip(entries))


def test_xdm_refuses_zip_bomb() -> None:
    entries = _entries()
    entries["IHE_XDM/SUBSET01/PAD.BIN"] = b"\0" * (20 * 1024 * 1024)
    with pytest.raises(XdmRefused, match="bombe zip"):
        read_xdm(_rezip(entries))


def test_xdm_refuses_wrong_hash() -> None:
    entries = _entries()
    entries["IHE_XDM/SUBSET01/DOC0001.XML"] = entries["IHE_XDM/SUBSET01/DOC0001.XML"].replace(b"ADRTROIS", b"ADRQUATR")
    with pytest.raises(XdmRefused, match="empreinte SHA-1"):
        read_xdm(_rezip(entries))


def test_xdm_refuses_not_a_zip_and_missing_metadata_and_entities() -> None:
    with pytest.raises(XdmRefused, match="pas un fichier zip"):
        read_xdm(b"PK\x03\x04 not really")
    entries = _entries()
    del entries[METADATA]
    with pytest.raises(XdmRefused, match="METADATA.XML absent"):
        read_xdm(_rezip(entries))
    entries = _entries()
    entries[METADATA] = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(XdmRefused, match="DOCTYPE"):
        read_xdm(_rezip(entries))


def _mail_with(zip_bytes: bytes) -> bytes:
    return compose(Outgoing(sender="dr@x.mssante.fr", recipients=["me@y.mssante.fr"], subject="XDM/1.0/DDM+test",
                            message_id="<m1@x>", body="b", nil="N",
                            attachments=[Attachment("IHE_XDM.ZIP", zip_bytes, "application", "zip")]))


def test_incoming_accepts_valid_and_refuses_hostile_keeping_reason() -> None:
    ok = classify(_mail_with(_xdm()))
    assert ok.kind == "document" and ok.status == "accepted" and ok.ins == "297029912345697"
    entries = _entries()
    entries["../evil"] = b"x"
    bad = classify(_mail_with(_rezip(entries)))
    assert bad.status == "refused" and "hors de l'archive" in (bad.reason or "")


def test_incoming_unqualified_patient_by_local_id_accepted_and_x_mss_ins_checked() -> None:
    """An XDM naming the patient by the sender's local id (PI: INS not qualified) is offered, without an
    INS; claiming `X-MSS-INS: O` for it, or a CDA naming another patient, is refused."""
    import dataclasses

    meta = example_metadata("doc-pi")
    local = dataclasses.replace(meta, patient=dataclasses.replace(meta.patient, ins=None, ins_oid=None, ipp="ident-1",
                                                                  ipp_oid="1.2.250.1.999.7.1"))
    xdm = build_xdm(local, cda.build_cda(local, MINIMAL_PDF), ["a@b.mssante.fr"], software="Vigie")
    assert read_xdm(xdm).patient_ins is None
    ok = classify(_mail_with(xdm))
    assert ok.status == "accepted" and ok.ins is None and ok.documents[0]["type_code"] == "57833-6"
    claimed = _mail_with(xdm).replace(b"X-MSS-NIL:", b"X-MSS-INS: O\r\nX-MSS-NIL:", 1)
    bad = classify(claimed)
    assert bad.status == "refused" and "aucune INS qualifiée" in (bad.reason or "")
    other = dataclasses.replace(local, patient=dataclasses.replace(local.patient, ipp="ident-2"))
    mixed = build_xdm(local, cda.build_cda(other, MINIMAL_PDF), ["a@b.mssante.fr"], software="Vigie")
    wrong = classify(_mail_with(mixed))
    assert wrong.status == "refused" and "patient du CDA diffère" in (wrong.reason or "")


def test_subject_format_exact() -> None:
    import datetime as dt

    line = PatientLine("Lefèvre-Ørsted", "Zoé", dt.date(2001, 7, 9))
    assert subject("Prescription de produits de santé", line, with_xdm=True) == \
        "XDM/1.0/DDM+Prescription de produits de santé LEFEVRE-ØRSTED Zoé 09/07/2001"


def test_compose_headers_and_threading() -> None:
    raw = compose(Outgoing(sender="a@b.fr", recipients=["c@d.fr"], subject="s", message_id="<x@b.fr>", body="b",
                           nil="NIL-1", cda_codes=["57833-6", "11488-4"], ins_qualified=False,
                           in_reply_to="<p@d.fr>", references=["<o@d.fr>"]))
    msg = email.message_from_bytes(raw)
    assert msg["X-MSS-CODECDA"] == "57833-6,11488-4" and msg["X-MSS-INS"] == "N" and msg["X-MSS-NIL"] == "NIL-1"
    assert msg["In-Reply-To"] == "<p@d.fr>" and msg["References"] == "<o@d.fr> <p@d.fr>"
    assert msg["Disposition-Notification-To"] == "a@b.fr"


def test_recipient_rules() -> None:
    pro = rules.Recipient("dr@x.mssante.fr", "treating")
    typed_patient = rules.Recipient("146026322000196@patient.mssante.fr", "professional")
    ok = rules.PatientFacts("146026322000196", False, False)
    chosen, refusals = rules.choose([pro, pro, typed_patient], ok, to_patient=True)
    assert [r.address for r in chosen] == ["dr@x.mssante.fr", "146026322000196@patient.mssante.fr"]
    assert refusals[0].reason == rules.NOT_PATIENT_ADDRESS
    for facts, reason in ((rules.PatientFacts(None, False, False), rules.NOT_QUALIFIED),
                          (rules.PatientFacts("146026322000196", True, False), rules.INVISIBLE),
                          (rules.PatientFacts("146026322000196", False, True), rules.OPPOSED)):
        chosen, refusals = rules.choose([pro], facts, to_patient=True)
        assert [r.address for r in chosen] == ["dr@x.mssante.fr"] and refusals[0].reason == reason


def test_corsican_ins_gets_no_patient_address() -> None:
    """No documented 15-digit form of a 2A/2B matricule (docs/mss.md): no address is ever made up."""
    for corsican in ("180032B02040123", "297022A02077878"):
        with pytest.raises(ValueError):
            rules.patient_address(corsican)
    facts = rules.PatientFacts("180032B02040123", invisible_to_patient=False, opposed=False)
    chosen, refusals = rules.choose([rules.Recipient("dr@x.mssante.fr", "treating")], facts, to_patient=True)
    assert [r.address for r in chosen] == ["dr@x.mssante.fr"]
    assert [r.reason for r in refusals] == [rules.NO_PATIENT_MAILBOX] and "Corse" in rules.NO_PATIENT_MAILBOX


def test_delivery_jobs_stale_copy_never_takes_back_a_receipt() -> None:
    """The DSN flake: Postfix's success DSN was applied (delivered) between the server's 250 and the
    delivery job's "sent", and the job's older copy overwrote it. Receipt outcomes now survive."""
    from plugins.mss.repository import RecipientState
    from plugins.mss.service import keep_receipts

    stored = [RecipientState("a@x.fr", "treating", state="delivered"),
              RecipientState("b@x.fr", "professional", state="failed", reason="Échec (E04) : Patient inconnu",
                             code="E04"),
              RecipientState("c@x.fr", "professional", state="submitted")]
    mine = [RecipientState("a@x.fr", "treating", state="submitted"),
            RecipientState("b@x.fr", "professional", state="submitted"),
            RecipientState("c@x.fr", "professional", state="submitted")]
    keep_receipts(mine, stored)
    assert [(r.state, r.code) for r in mine] == [("delivered", None), ("failed", "E04"), ("submitted", None)]
    # A newer receipt (the MDN's read over the stored DSN's delivered) is not taken back either.
    newer = [RecipientState("a@x.fr", "treating", state="read")]
    keep_receipts(newer, [RecipientState("a@x.fr", "treating", state="delivered")])
    assert newer[0].state == "read"
    # A failure the job itself saw stays the job's.
    own = [RecipientState("a@x.fr", "treating", state="failed", reason="refusé", code="refused")]
    keep_receipts(own, [RecipientState("a@x.fr", "treating", state="delivered")])
    assert own[0].state == "failed" and own[0].code == "refused"
