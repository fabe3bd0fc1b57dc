"""IHE_XDM.ZIP (ITI-32 "Distribute Document Set on Media", CI-SIS "Échange de documents de santé").

Layout (spec §2.3):
    INDEX.HTM                      human-readable index
    README.TXT                     sender and software
    IHE_XDM/SUBSET01/METADATA.XML  ebRS SubmitObjectsRequest (SubmissionSet with intendedRecipient +
                                   DocumentEntry with its URI slot, SHA-1 hash and size)
    IHE_XDM/SUBSET01/DOC0001.XML   the CDA R2 (built by plugins/common/clinical/cda.py)

`build_xdm` uses the shared CDA/XDS builders (one builder for the DMP and MSSanté). `read_xdm` opens
an incoming archive defensively: bounded entry count and sizes, compression-ratio check (zip bombs),
no absolute or `..` paths, METADATA.XML parsed without entities or network, every referenced file
present with the hash and size the metadata claims. A refusal is an `XdmRefused` with a French reason.
Pure and CPU-bound: call both from a worker thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import posixpath
import zipfile
from dataclasses import dataclass

from lxml import etree

from plugins.common.clinical import xds
from plugins.common.clinical.model import DocumentMetadata

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
DOC_NAME = "DOC0001.XML"
ATTACHMENT_NAME = "IHE_XDM.ZIP"

MAX_ENTRIES = 64
MAX_ENTRY_BYTES = 30 * 1024 * 1024  # MSSanté caps a message near 25 MB
MAX_TOTAL_BYTES = 60 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, per entry: beyond this it is a bomb, not a document
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


class XdmRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # French


def xtn(address: str) -> str:
    """An intendedRecipient value for a mail address only (XON|XCN|XTN with the XTN part)."""
    return f"||^^Internet^{address}"


def _readme(meta: DocumentMetadata, software: str) -> str:
    return (f"Archive IHE XDM (ITI-32) produite par {software}.\r\n"
            f"Émetteur : {meta.author.given} {meta.author.family} ({meta.organisation.name}).\r\n"
            f"Contenu : {SUBSET}/{DOC_NAME} (document CDA R2), {METADATA} (métadonnées XDS).\r\n")


def _index(meta: DocumentMetadata) -> str:
    title = html.escape(meta.title)
    return ("<!DOCTYPE html>\r\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>IHE XDM</title></head>"
            f"<body><h1>Documents de santé</h1><ul><li><a href=\"{SUBSET}/{DOC_NAME}\">{title}</a></li></ul>"
            f"<p><a href=\"{METADATA}\">Métadonnées XDS</a> — <a href=\"README.TXT\">README</a></p>"
            "</body></html>\r\n")


def build_xdm(meta: DocumentMetadata, cda: bytes, recipients: list[str], *, software: str,
              submission_time: dt.datetime | None = None) -> bytes:
    """The IHE_XDM.ZIP bytes for one CDA (one patient per message)."""
    entry = xds.document_entry(meta, cda, uri=DOC_NAME)
    submission = xds.submission_set(meta, submission_time=submission_time, attempt=":xdm")
    submission = _with_recipients(submission, recipients)
    request = xds.submit_objects_request(submission, [entry])
    metadata = etree.tostring(request, xml_declaration=True, encoding="UTF-8")
    out = io.BytesIO()
    # A fixed timestamp inside the zip: the same document gives the same archive on a retry.
    stamp = (meta.creation_time.astimezone(dt.UTC).timetuple()[:6])
    # Level 1: the CDA is mostly base64 of an already-compressed PDF; higher levels cost time, save little.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in (("INDEX.HTM", _index(meta).encode()), ("README.TXT", _readme(meta, software).encode()),
                           (METADATA, metadata), (f"{SUBSET}/{DOC_NAME}", cda)):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = 1  # type: ignore[attr-defined]  # writestr(ZipInfo) ignores the archive level
            z.writestr(info, data)
    return out.getvalue()


def _with_recipients(submission: xds.SubmissionSet, recipients: list[str]) -> xds.SubmissionSet:
    from dataclasses import replace

    return replace(submission, intended_recipients=tuple(xtn(a) for a in recipients))


# -- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class XdmDocument:
    uri: str
    content: bytes
    sha1: str
    size: int
    title: str | None
    type_code: str | None
    mime_type: str | None
    patient_id: str | None  # XDS patientId (CX), e.g. `<INS>^^^&1.2.250.1.213.1.4.8&ISO^NH`


@dataclass(frozen=True)
class XdmContent:
    documents: list[XdmDocument]
    intended_recipients: list[str]

    @property
    def patient_id(self) -> str | None:
        """The XDS patientId (CX) of the single patient; None when absent or when several patients."""
        ids = {d.patient_id for d in self.documents if d.patient_id}
        return next(iter(ids)) if len(ids) == 1 and all(d.patient_id for d in self.documents) else None

    @property
    def patient_ins(self) -> str | None:
        """The INS of the (single) patient: the patientId when it is an INS (type NH); None otherwise (a
        sender's local id `PI` for a patient whose INS is not qualified)."""
        cx = parse_cx(self.patient_id)
        return cx[0] if cx and cx[2] == "NH" else None


def parse_cx(value: str | None) -> tuple[str, str, str] | None:
    """`id^^^&oid&ISO^type` -> (id, oid, type); None when it is not that shape."""
    parts = (value or "").split("^")
    if len(parts) < 5 or not parts[0]:
        return None
    authority = parts[3].split("&")
    return (parts[0], authority[1] if len(authority) > 1 else "", parts[4])


def _safe_name(name: str) -> str:
    if not name or "\\" in name or name.startswith("/") or "\x00" in name or (len(name) > 1 and name[1] == ":"):
        raise XdmRefused("Archive IHE_XDM refusée : nom de fichier dangereux (chemin absolu).")
    norm = posixpath.normpath(name)
    if norm.startswith("..") or "/../" in f"/{name}/" or norm != name.rstrip("/"):
        raise XdmRefused("Archive IHE_XDM refusée : chemin de fichier hors de l'archive (« .. »).")
    return norm


def read_xdm(data: bytes) -> XdmContent:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise XdmRefused("Archive IHE_XDM illisible : ce n'est pas un fichier zip valide.") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise XdmRefused(f"Archive IHE_XDM refusée : trop de fichiers ({len(infos)}).")
        total = 0
        names: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _safe_name(info.filename)
            total += info.file_size
            if info.file_size > MAX_ENTRY_BYTES or total > MAX_TOTAL_BYTES:
                raise XdmRefused("Archive IHE_XDM refusée : contenu décompressé trop volumineux.")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise XdmRefused("Archive IHE_XDM refusée : taux de compression anormal (bombe zip).")
            names[name.upper()] = info
        meta_info = names.get(METADATA.upper())
        if meta_info is None:
            raise XdmRefused("Archive IHE_XDM incomplète : IHE_XDM/SUBSET01/METADATA.XML absent.")
        root = _parse(_read(z, meta_info), "METADATA.XML")
        recipients: list[str] = []
        for slot in root.iter(f"{{{xds.NS_RIM}}}Slot"):
            if slot.get("name") == "intendedRecipient":
                recipients.extend(v.text or "" for v in slot.iter(f"{{{xds.NS_RIM}}}Value"))
        docs: list[XdmDocument] = []
        folder = posixpath.dirname(METADATA)
        for entry in xds.read_registry_objects(root):
            uri = entry.first("URI")
            if not uri:
                raise XdmRefused("Métadonnées XDM invalides : un document n'a pas d'attribut URI.")
            path = _safe_name(posixpath.join(folder, uri))
            doc_info = names.get(path.upper())
            if doc_info is None:
                raise XdmRefused(f"Archive IHE_XDM incomplète : le document {uri} annoncé est absent.")
            content = _read(z, doc_info)
            sha1 = hashlib.sha1(content).hexdigest()
            if entry.hash is None or entry.hash.lower() != sha1:
                raise XdmRefused(f"Archive IHE_XDM refusée : l'empreinte SHA-1 de {uri} ne correspond pas.")
            if entry.size is not None and entry.size != len(content):
                raise XdmRefused(f"Archive IHE_XDM refusée : la taille de {uri} ne correspond pas.")
            docs.append(XdmDocument(uri=uri, content=content, sha1=sha1, size=len(content), title=entry.title,
                                    type_code=(entry.codes.get("type_code") or (None, None))[0],
                                    mime_type=entry.mime_type, patient_id=entry.patient_id))
        if not docs:
            raise XdmRefused("Archive IHE_XDM vide : aucun document dans les métadonnées.")
        return XdmContent(documents=docs, intended_recipients=recipients)


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read at most the announced size + 1: a lying header cannot make us inflate more than that.
    try:
        with z.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, ValueError):
        raise XdmRefused(f"Archive IHE_XDM endommagée : {info.filename} illisible.") from None
    if len(data) > info.file_size:
        raise XdmRefused("Archive IHE_XDM refusée : taille décompressée mensongère.")
    return data


def _parse(data: bytes, what: str) -> etree._Element:
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise XdmRefused(f"{what} refusé : déclaration DOCTYPE/ENTITY interdite.")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        raise XdmRefused(f"{what} illisible : XML mal formé.") from None
