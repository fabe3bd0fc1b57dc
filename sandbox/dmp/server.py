"""The DMP stand-in: HTTPS (client certificate required), SOAP 1.2, MTOM/XOP, the TD transactions.

Services under `/si-dmp-server/v2/services/<patients|habilitations|repository|registry>`, like the CNDA
platform. Every request: the client certificate chains to the sandbox organisation CA (TLS handshake);
the envelope carries wsa:Action (mustUnderstand), MessageID and To; the VIHF verifies (sandbox/dmp/
vihf.py) and names the patient of the request. ITI-41 parts are read with aiohttp's multipart parser,
the SHA-1 and size recomputed, the ebRIM, value sets and CDA header checked (checks.py); what is
accepted is stored, so ITI-18 / ITI-43 / ITI-57 work on it. Faults, latency and the patients' DMP
states are set per test (`configure`, or POST /_sandbox/config). `start_dmp_sandbox` starts one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import MultipartReader, web
from lxml import etree

from plugins.common.clinical import xds
from sandbox.dmp import answers
from sandbox.dmp.checks import check_document, check_submission
from sandbox.dmp.config import DmpSandboxConfig
from sandbox.dmp.vihf import Vihf, VihfRejected, verify_vihf
from sandbox.insi.pki import SandboxPki, generate_sandbox_pki

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
BASE_PATH = "/si-dmp-server/v2/services"
REPOSITORY_ID = "1.2.250.1.213.4.1.4.2.1"  # the stand-in's repositoryUniqueId
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
NS = {"s": answers.NS_SOAP, "a": answers.NS_WSA, "rim": xds.NS_RIM, "lcm": xds.NS_LCM, "q": xds.NS_QUERY,
      "h": answers.NS_HL7, "x": answers.NS_XDSB, "hab": answers.NS_HAB, "xop": answers.NS_XOP}


@dataclass
class Stored:
    view: xds.EntryView
    element: etree._Element  # the ExtrinsicObject as accepted (status kept up to date)
    content: bytes
    patient: str


@dataclass
class Exchange:
    action: str
    outcome: str  # ok | rejected:<codes> | fault:<subcode> | injected:<kind>
    vihf: Vihf | None = None
    validated: bool = False  # the CDA and metadata went through every check


class _Reject(Exception):
    def __init__(self, *errors: tuple[str, str]) -> None:
        super().__init__(errors)
        self.errors = list(errors)


@dataclass
class DmpSandbox:
    pki: SandboxPki
    config: DmpSandboxConfig = field(default_factory=DmpSandboxConfig)
    documents: dict[str, Stored] = field(default_factory=dict)  # entryUUID -> stored entry
    exchanges: list[Exchange] = field(default_factory=list)
    url: str = ""
    port: int = 0
    _runner: web.AppRunner | None = None
    _owned: Path | None = None

    # -- public API ----------------------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        self.config.update(changes)

    def copies(self, unique_id: str) -> int:
        return sum(1 for d in self.documents.values() if d.view.unique_id == unique_id)

    def entry(self, unique_id: str) -> Stored | None:
        found = [d for d in self.documents.values() if d.view.unique_id == unique_id
                 and d.element.get("status") == xds.APPROVED]
        return found[-1] if found else None

    def plugin_settings(self, *, auth_mode: str = "INDIRECTE", keyring: bool = False) -> dict[str, Any]:
        """`[plugins.dmp]` for an agent talking to this stand-in (the passphrase: `secrets()`, for the keyring);
        with `keyring`, the certificate is `keyring:dmp.certificate` (import `certificates()` first)."""
        from plugins.dmp.settings import CERTIFICATE_SECRET

        pkcs12 = f"keyring:{CERTIFICATE_SECRET}" if keyring else str(self.pki.client_p12)
        return {"url": self.url, "ca_files": [str(p) for p in self.pki.ca_files], "pkcs12": pkcs12,
                "auth_mode": auth_mode, "structure_id": "3" + "12345678900019", "structure_name": "Cabinet Sandbox",
                "practitioner": {"rpps": "10003456789", "family": "SANDBOX", "given": "Olivier"}}

    def secrets(self) -> dict[str, str]:
        return {"dmp.pkcs12": self.pki.client_passphrase}  # plugins.dmp.settings.PKCS12_SECRET

    def certificates(self) -> dict[str, Path]:
        from plugins.dmp.settings import CERTIFICATE_SECRET

        return {CERTIFICATE_SECRET: self.pki.client_p12}

    def as_service(self) -> SandboxService:
        from sandbox.supervisor import SandboxService

        return SandboxService(name="dmp", endpoints={"dmp": self.url}, stop=self.stop,
                              plugin_settings={"dmp": self.plugin_settings(keyring=True)}, secrets=self.secrets(),
                              certificates=self.certificates())

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=self.config.max_document_bytes * 2)
        app.router.add_post(BASE_PATH + "/{service}", self._handle)
        app.router.add_post("/_sandbox/config", self._admin_config)
        app.router.add_get("/_sandbox/documents", self._admin_documents)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        for ca in self.pki.ca_files:
            context.load_verify_locations(cafile=str(ca))
        context.verify_mode = ssl.CERT_REQUIRED  # no structure certificate, no TLS session
        try:
            await web.TCPSite(runner, HOST, port, ssl_context=context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.url = f"https://{HOST}:{self.port}{BASE_PATH}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._owned is not None:
            import shutil

            shutil.rmtree(self._owned, ignore_errors=True)

    def _org_bundle(self) -> Path:
        """Root + intermediate in one file: signxml needs the whole chain of the structure certificate."""
        bundle = self.pki.directory / "dmp-org-bundle.pem"
        if not bundle.exists():
            bundle.write_bytes(b"".join(Path(p).read_bytes() for p in self.pki.ca_files))
        return bundle

    # -- request handling -------------------------------------------------------------------
    async def _read(self, request: web.Request) -> tuple[bytes, dict[str, bytes]]:
        if request.content_type != "multipart/related":
            return await request.read(), {}
        reader = MultipartReader(request.headers, request.content)
        root: bytes | None = None
        parts: dict[str, bytes] = {}
        while (part := await reader.next()) is not None:
            data = await part.read(decode=False)  # type: ignore[union-attr]
            cid = (part.headers.get("Content-ID") or "").strip().strip("<>")
            if root is None:
                if "application/xop+xml" not in (part.headers.get("Content-Type") or ""):
                    raise web.HTTPBadRequest(text="MTOM root part must be application/xop+xml")
                root = bytes(data)
            else:
                parts[cid] = bytes(data)
        if root is None:
            raise web.HTTPBadRequest(text="empty multipart")
        return root, parts

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.config.max_document_bytes * 2:
            return self._soap_fault("Sender", "DMPTooLarge", "Requête trop volumineuse.", "?")
        root_xml, parts = await self._read(request)
        try:
            env = etree.fromstring(root_xml, _PARSER)
        except etree.XMLSyntaxError:
            return self._soap_fault("Sender", "InvalidMessage", "Message SOAP illisible.", "?")
        header, body = env.find("s:Header", NS), env.find("s:Body", NS)
        action_el = header.find("a:Action", NS) if header is not None else None
        action = (action_el.text or "").strip() if action_el is not None else ""
        message_id = header.findtext("a:MessageID", None, NS) if header is not None else None
        if (action_el is None or action_el.get(f"{{{answers.NS_SOAP}}}mustUnderstand") not in ("true", "1")
                or not message_id or header is None or header.find("a:To", NS) is None
                or body is None or len(body) == 0):
            return self._soap_fault("Sender", "MessageAddressingHeaderRequired",
                                    "En-têtes WS-Addressing (Action, MessageID, To) requis.", action)
        try:
            vihf = verify_vihf(header, cps_ca=self.pki.cps_ca, org_ca=self._org_bundle())
        except VihfRejected as exc:
            self.exchanges.append(Exchange(action, "fault:InvalidSecurity"))
            return self._soap_fault("Sender", "wsse:InvalidSecurity", f"VIHF refusé : {exc}", action)
        fault = self.config.take_fault(action)
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        if fault is not None and fault.kind != "hold_after_store":
            injected = await self._inject(fault.kind, fault.delay, action, request)
            if injected is not None:
                self.exchanges.append(Exchange(action, f"injected:{fault.kind}", vihf))
                return injected
        exchange = Exchange(action, "ok", vihf)
        self.exchanges.append(exchange)
        try:
            answer, attachments = self._dispatch(action, body[0], parts, vihf, exchange)
        except _Reject as rejected:
            exchange.outcome = "rejected:" + ",".join(code for code, _ in rejected.errors)
            answer, attachments = answers.registry_response(rejected.errors), {}
            if action.endswith("PRPA_IN201307UV02") or action.endswith("setAuthorization"):
                return self._soap_fault("Sender", rejected.errors[0][0], rejected.errors[0][1], action)
        if fault is not None and fault.kind == "hold_after_store":
            await asyncio.sleep(fault.delay)  # stored, answer late: the client may die meanwhile
        return self._respond(action, message_id, answer, attachments)

    async def _inject(self, kind: str, delay: float, action: str, request: web.Request) -> web.StreamResponse | None:
        if kind == "http_500":
            return web.Response(status=500, text="Internal Server Error")
        if kind == "fault_receiver":
            return self._soap_fault("Receiver", "DMPServiceUnavailable", "Service DMP momentanément indisponible.",
                                    action)
        if kind == "fault_sender":
            return self._soap_fault("Sender", "DMPInvalidRequest", "Requête invalide.", action)
        if kind in ("slow", "timeout"):
            await asyncio.sleep(delay)
            return None if kind == "slow" else web.Response(status=504)
        if kind == "reset" and request.transport is not None:
            request.transport.close()
            return web.Response(status=500)
        return None

    def _soap_fault(self, code: str, subcode: str, reason: str, action: str) -> web.Response:
        return web.Response(body=answers.fault(code, subcode, reason), status=500 if code == "Receiver" else 400,
                            content_type="application/soap+xml")

    def _respond(self, action: str, message_id: str | None, answer: etree._Element,
                 attachments: dict[str, bytes]) -> web.Response:
        xml = answers.envelope(action, message_id, answer)
        if not attachments:
            return web.Response(body=xml, headers={"Content-Type": 'application/soap+xml; charset=UTF-8'})
        boundary = f"uuid:{uuid.uuid4()}"
        chunks = [f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
                  f"Content-ID: <root@dmp.sandbox>\r\n\r\n".encode(), xml]
        for cid, data in attachments.items():
            chunks += [f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <{cid}>\r\n"
                       "Content-Transfer-Encoding: binary\r\n\r\n".encode(), data]
        chunks.append(f"\r\n--{boundary}--\r\n".encode())
        content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                        'start="<root@dmp.sandbox>"; start-info="application/soap+xml"')
        return web.Response(body=b"".join(chunks), headers={"Content-Type": content_type})

    def _dispatch(self, action: str, body: etree._Element, parts: dict[str, bytes], vihf: Vihf,
                  exchange: Exchange) -> tuple[etree._Element, dict[str, bytes]]:
        if action == "urn:hl7-org:v3:PRPA_IN201307UV02":
            return self._td02(body, vihf), {}
        if action == "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization":
            return self._td03(body, vihf), {}
        if action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b":
            return self._iti41(body, parts, vihf, exchange), {}
        if action == "urn:ihe:iti:2007:RegistryStoredQuery":
            return self._iti18(body, vihf), {}
        if action == "urn:ihe:iti:2007:RetrieveDocumentSet":
            return self._iti43(body, vihf)
        if action == "urn:ihe:iti:2010:UpdateDocumentSet":
            return self._iti57(body, vihf, exchange), {}
        raise _Reject(("XDSRegistryError", f"Action inconnue : {action}."))

    def _patient(self, vihf: Vihf, patient_id: str | None) -> str:
        """The INS of the request: it must be the VIHF's resource-id."""
        if patient_id is not None and patient_id != vihf.patient_id:
            raise _Reject(("DMPNotAuthorized", "Le patient de la requête n'est pas celui du VIHF."))
        return vihf.patient_id.split("^")[0]

    # -- TD0.2 / TD0.3 ------------------------------------------------------------------------
    def _td02(self, body: etree._Element, vihf: Vihf) -> etree._Element:
        value = body.find("h:controlActProcess/h:queryByParameter/h:parameterList/h:patientIdentifier/h:value", NS)
        if value is None or body.find("h:controlActProcess/h:reasonCode[@code='TEST_EXST']", NS) is None:
            raise _Reject(("DMPInvalidRequest", "TD0.2 : patientIdentifier et reasonCode TEST_EXST attendus."))
        if body.find("h:receiver/h:device/h:id[@root='1.2.250.1.213.4.1.1.1']", NS) is None:
            raise _Reject(("DMPInvalidRequest", "TD0.2 : le destinataire doit être le DMP (1.2.250.1.213.4.1.1.1)."))
        ins = self._patient(vihf, f"{value.get('extension')}^^^&{value.get('root')}&ISO^NH")
        state = self.config.patient(ins)
        return answers.td02_response(exists=state.dmp != "none", closed=state.dmp == "closed",
                                     authorization=state.authorization, treating=state.treating,
                                     opposition=state.opposition, ins=ins, oid=value.get("root", ""))

    def _td03(self, body: etree._Element, vihf: Vihf) -> etree._Element:
        # The body carries the action only; the patient is the VIHF's resource (as the DMP reads it).
        if body.findtext("hab:action", "", NS) != "AJOUT":
            raise _Reject(("DMPInvalidRequest", "TD0.3 : action AJOUT attendue."))
        ins = self._patient(vihf, None)
        state = self.config.patient(ins)
        if state.dmp == "none" or state.authorization == "INTERDIT":
            return answers.td03_response(False)
        state.authorization = "VALIDE"
        return answers.td03_response(True)

    # -- ITI-41 ---------------------------------------------------------------------------------
    def _refuse_for_patient(self, ins: str) -> None:
        state = self.config.patient(ins)
        if state.dmp == "none":
            raise _Reject(("XDSUnknownPatientId", "Aucun DMP pour ce patient."))
        if state.dmp == "closed":
            raise _Reject(("DMPClosed", "Le DMP de ce patient est fermé."))
        if state.opposition:
            raise _Reject(("DMPPatientOpposition", "Le patient s'est opposé à l'alimentation de son DMP."))

    def _iti41(self, body: etree._Element, parts: dict[str, bytes], vihf: Vihf,
               exchange: Exchange) -> etree._Element:
        submit = body.find("lcm:SubmitObjectsRequest", NS)
        if body.tag != f"{{{answers.NS_XDSB}}}ProvideAndRegisterDocumentSetRequest" or submit is None:
            raise _Reject(("XDSRepositoryMetadataError", "ProvideAndRegisterDocumentSetRequest attendu."))
        problems, entries, patient = check_submission(submit)
        if not entries:
            problems.append(("XDSMissingDocumentMetadata", "Aucune fiche (ExtrinsicObject) dans la soumission."))
        if problems:
            raise _Reject(*problems)
        ins = self._patient(vihf, patient)
        self._refuse_for_patient(ins)
        contents: dict[str, bytes] = {}
        for entry in entries:
            doc = body.find(f"x:Document[@id='{entry.entry_uuid}']", NS)
            include = doc.find("xop:Include", NS) if doc is not None else None
            content = parts.get((include.get("href") or "").removeprefix("cid:")) if include is not None else None
            problems.extend(check_document(entry, content))
            if any(d.view.unique_id == entry.unique_id for d in self.documents.values()):
                problems.append(("XDSDuplicateUniqueIdInRegistry", "Ce document est déjà dans le DMP."))
            contents[entry.entry_uuid] = content or b""
        objects = submit.find("rim:RegistryObjectList", NS)
        assert objects is not None
        replaced = [a.get("targetObject", "") for a in objects.iterfind("rim:Association", NS)
                    if a.get("associationType") == xds.RPLC]
        for target in replaced:
            old = self.documents.get(target)
            if old is None or old.element.get("status") != xds.APPROVED:
                problems.append(("XDSRegistryMetadataError", "La version remplacée (RPLC) est inconnue ou obsolète."))
        if problems:
            raise _Reject(*problems)
        exchange.validated = True
        for target in replaced:
            self.documents[target].element.set("status", xds.DEPRECATED)
        for entry in entries:
            element = objects.find(f"rim:ExtrinsicObject[@id='{entry.entry_uuid}']", NS)
            assert element is not None and entry.patient_id is not None
            element.set("lid", element.get("lid") or entry.entry_uuid)
            _add_slot(element, "repositoryUniqueId", REPOSITORY_ID)  # set by the repository, as in XDS.b
            self.documents[entry.entry_uuid] = Stored(view=entry, element=element, content=contents[entry.entry_uuid],
                                                      patient=entry.patient_id)
        return answers.registry_response()

    # -- ITI-18 / ITI-43 ------------------------------------------------------------------------
    def _slot(self, query: etree._Element, name: str) -> list[str]:
        raw = " ".join(v.text or "" for v in query.iterfind(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NS))
        return [v.strip(" '") for v in raw.strip("()").split(",") if v.strip(" '")]

    def _iti18(self, body: etree._Element, vihf: Vihf) -> etree._Element:
        query = body.find("rim:AdhocQuery", NS)
        if query is None:
            raise _Reject(("XDSRegistryError", "AdhocQuery attendu."))
        if query.get("id") == "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4":  # GetDocuments
            uids = set(self._slot(query, "$XDSDocumentEntryUniqueId"))
            found = [d for d in self.documents.values() if d.view.unique_id in uids and d.patient == vihf.patient_id]
        elif query.get("id") == "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d":  # FindDocuments
            patient = (self._slot(query, "$XDSDocumentEntryPatientId") or [""])[0]
            ins = self._patient(vihf, patient)
            if self.config.patient(ins).authorization != "VALIDE":
                raise _Reject(("DMPNotAuthorized", "Accès au DMP non autorisé : autorisation d'accès absente."))
            statuses = set(self._slot(query, "$XDSDocumentEntryStatus")) or {xds.APPROVED}
            found = [d for d in self.documents.values() if d.patient == patient and d.element.get("status") in statuses]
        else:
            raise _Reject(("XDSUnknownStoredQuery", f"Requête inconnue : {query.get('id')}."))
        return answers.query_response(d.element for d in found)

    def _iti43(self, body: etree._Element, vihf: Vihf) -> tuple[etree._Element, dict[str, bytes]]:
        documents: list[tuple[str, str]] = []
        attachments: dict[str, bytes] = {}
        errors: list[tuple[str, str]] = []
        for request in body.iterfind("x:DocumentRequest", NS):
            uid = request.findtext("x:DocumentUniqueId", "", NS)
            stored = self.entry(uid)
            if stored is None or stored.patient != vihf.patient_id:
                errors.append(("XDSDocumentUniqueIdError", "Document inconnu."))
                continue
            if self.config.patient(vihf.patient_id.split("^")[0]).authorization != "VALIDE":
                errors.append(("DMPNotAuthorized", "Accès au DMP non autorisé : autorisation d'accès absente."))
                continue
            cid = f"doc{len(documents) + 1}@dmp.sandbox"
            documents.append((uid, cid))
            attachments[cid] = stored.content
        return answers.retrieve_response(REPOSITORY_ID, documents, errors), attachments

    # -- ITI-57 ---------------------------------------------------------------------------------
    def _iti57(self, body: etree._Element, vihf: Vihf, exchange: Exchange) -> etree._Element:
        objects = body.find("rim:RegistryObjectList", NS)
        if body.tag != f"{{{xds.NS_LCM}}}SubmitObjectsRequest" or objects is None:
            raise _Reject(("XDSRegistryMetadataError", "SubmitObjectsRequest attendu."))
        status_changes = [a for a in objects.iterfind("rim:Association", NS)
                          if a.get("associationType") == "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"]
        if status_changes:
            for assoc in status_changes:
                stored = self.documents.get(assoc.get("targetObject", ""))
                if stored is None or stored.patient != vihf.patient_id:
                    raise _Reject(("XDSRegistryMetadataError", "Fiche inconnue."))
                original = self._assoc_slot(assoc, "OriginalStatus")
                if original != stored.element.get("status"):
                    raise _Reject(("XDSMetadataUpdateError", "Statut d'origine différent du statut actuel."))
                stored.element.set("status", self._assoc_slot(assoc, "NewStatus"))
            exchange.validated = True
            return answers.registry_response()
        problems, entries, patient = check_submission(body)
        if problems or len(entries) != 1:
            raise _Reject(*(problems or [("XDSRegistryMetadataError", "Une fiche attendue.")]))
        self._patient(vihf, patient)
        entry = entries[0]
        previous = next((d for d in self.documents.values() if d.element.get("lid") == entry.logical_id
                         and d.element.get("status") == xds.APPROVED), None)
        if previous is None or previous.view.unique_id != entry.unique_id:
            raise _Reject(("XDSMetadataUpdateError", "Version précédente introuvable (lid)."))
        if previous.view.hash != entry.hash or previous.view.size != entry.size:
            raise _Reject(("XDSMetadataUpdateError", "Une mise à jour de métadonnées ne change pas le document."))
        element = objects.find(f"rim:ExtrinsicObject[@id='{entry.entry_uuid}']", NS)
        assert element is not None
        _add_slot(element, "repositoryUniqueId", REPOSITORY_ID)
        previous.element.set("status", xds.DEPRECATED)
        self.documents[entry.entry_uuid] = Stored(view=entry, element=element, content=previous.content,
                                                  patient=previous.patient)
        exchange.validated = True
        return answers.registry_response()

    @staticmethod
    def _assoc_slot(assoc: etree._Element, name: str) -> str:
        return assoc.findtext(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", "", NS)

    # -- admin ----------------------------------------------------------------------------------
    async def _admin_config(self, request: web.Request) -> web.Response:
        try:
            self.configure(**await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _admin_documents(self, request: web.Request) -> web.Response:
        return web.json_response([{"unique_id": d.view.unique_id, "status": d.element.get("status"),
                                   "confidentiality": [c for c, _ in d.view.confidentiality]}
                                  for d in self.documents.values()])


def _add_slot(element: etree._Element, name: str, value: str) -> None:
    slot = etree.Element(f"{{{xds.NS_RIM}}}Slot", name=name)
    etree.SubElement(etree.SubElement(slot, f"{{{xds.NS_RIM}}}ValueList"), f"{{{xds.NS_RIM}}}Value").text = value
    element.insert(0, slot)


async def start_dmp_sandbox(*, pki: SandboxPki | None = None, port: int = 0, **config: Any) -> DmpSandbox:
    """Start the DMP stand-in on 127.0.0.1:`port` (0: any); a throwaway PKI unless `pki` is given."""
    owned = None
    if pki is None:
        import tempfile

        owned = Path(tempfile.mkdtemp(prefix="vigie-dmp-sandbox-"))
        pki = await asyncio.to_thread(generate_sandbox_pki, owned / "pki")
    sandbox = DmpSandbox(pki=pki)
    sandbox._owned = owned
    sandbox.configure(**config)
    try:
        await sandbox.start(port)
    except BaseException:
        with contextlib.suppress(Exception):
            await sandbox.stop()
        raise
    return sandbox
