"""The DMP plugin's local API (JSON-RPC methods, documented in docs/local-api.md) and its schemas."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument
from agent.errors import UserFacingError
from agent.rpc import INVALID_PARAMS
from plugins.common.clinical import typecode
from plugins.common.clinical import valuesets as vs

if TYPE_CHECKING:
    from agent.rpc import RpcContext
    from plugins.dmp.service import DmpService

_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_MASKING = {"type": "array", "uniqueItems": True, "items": {"enum": list(vs.MASKING_OPTIONS)}}
MAX_PDF_B64 = 14 * 1024 * 1024  # ~10 MB of PDF; the plugin's own limit (max_document_bytes) applies after
SCHEMAS: dict[str, dict[str, Any]] = {
    "dmp.status": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                   "properties": {"identity_id": _ID}},
    "dmp.send": {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                 "properties": {
                     "document_id": _ID,
                     "document": {"type": "object", "required": ["identity_id", "pdf", "title", "kind", "author"],
                                  "additionalProperties": False, "properties": {
                                      "id": _ID, "identity_id": _ID, "title": {"type": "string", "minLength": 1,
                                                                               "maxLength": 200},
                                      "pdf": {"type": "string", "maxLength": MAX_PDF_B64},
                                      "kind": {"enum": list(typecode.kinds())}, "masking": _MASKING,
                                      "author": {"type": "object", "required": ["name", "rpps"],
                                                 "additionalProperties": False, "properties": {
                                                     "name": {"type": "string", "minLength": 1, "maxLength": 120},
                                                     "rpps": {"type": "string", "pattern": "^[0-9]{11}$"}}}}}}},
    "dmp.view": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                 "properties": {"identity_id": _ID}},
    "dmp.cancel": {"type": "object", "required": ["document_id"], "additionalProperties": False,
                   "properties": {"document_id": _ID}},
    "dmp.documents": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                      "properties": {"identity_id": _ID}},
    "dmp.retrieve": {"type": "object", "required": ["identity_id", "unique_id"], "additionalProperties": False,
                     "properties": {"identity_id": _ID, "unique_id": {"type": "string", "pattern": "^[0-9.]{3,128}$"}}},
    "dmp.mask": {"type": "object", "required": ["document_id"], "additionalProperties": False,
                 "properties": {"document_id": _ID, "masking": _MASKING, "delete": {"type": "boolean"}}},
    "dmp.consent": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                    "properties": {"identity_id": _ID, "kind": {"enum": ["consultation", "feeding"]},
                                   "granted": {"type": "boolean"}, "patient_informed": {"type": "boolean"},
                                   "how": {"enum": ["oral", "written"]}}},
}


class DmpApi:
    def __init__(self, service: Callable[[], DmpService]) -> None:
        self._service = service

    def methods(self) -> dict[str, Callable[[dict[str, Any], RpcContext], Awaitable[Any]]]:
        return {"dmp.status": self.status, "dmp.send": self.send, "dmp.cancel": self.cancel,
                "dmp.view": self.view,
                "dmp.documents": self.documents, "dmp.retrieve": self.retrieve, "dmp.mask": self.mask,
                "dmp.consent": self.consent}

    async def status(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """TD0.2: does the patient have a DMP, is this professional authorised, médecin traitant."""
        return await self._service().dmp_status(params["identity_id"])

    async def send(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """Queue a document for the DMP (an LGC's PDF), or send again a failed/cancelled one."""
        service = self._service()
        if "document_id" in params:
            return await service.resend(params["document_id"])
        raw = params["document"]
        try:
            pdf = base64.b64decode(raw["pdf"], validate=True)
        except (binascii.Error, ValueError):
            raise UserFacingError("Le contenu « pdf » doit être du base64.", code=INVALID_PARAMS) from None
        document_id = raw.get("id") or str(uuid.uuid4())
        document = ValidatedDocument(
            id=document_id, pdf=pdf, type_code=typecode.auto_type_code(None, raw["kind"]) or "",
            type_label=raw["kind"], title=raw["title"], author=DocumentAuthor(name=raw["author"]["name"],
                                                                              rpps=raw["author"]["rpps"]),
            created_at=time.time(), source_plugin="lgc",
            patient_ins=await self._ins(service, raw["identity_id"]),
            metadata={"patient": await service.patient_traits(raw["identity_id"]),
                      "dmp": {"kind": raw["kind"], "masking": raw.get("masking", [])}})
        await service.accept(document)
        return await service.document(document_id)

    async def _ins(self, service: DmpService, identity_id: str) -> PatientIns | None:
        return await service.qualified_ins(identity_id)

    async def cancel(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """"Ne pas envoyer": cancel a document still waiting to go."""
        return await self._service().cancel(params["document_id"])

    async def view(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """The patient's documents as Vigie holds them: DMP state in French, masking, open actions."""
        return await self._service().local_view(params["identity_id"])

    async def documents(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """TD3.1: the patient's documents in the DMP (needs the recorded consultation consent)."""
        return await self._service().documents(params["identity_id"])

    async def retrieve(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """TD3.2: one document of the DMP (its PDF, base64)."""
        return await self._service().retrieve(params["identity_id"], params["unique_id"])

    async def mask(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """Masking options of a document (ITI-57 once it is in the DMP), or its deletion."""
        return await self._service().mask(params["document_id"], list(params.get("masking", [])),
                                          bool(params.get("delete")))

    async def consent(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        """Record (granted given) or read the patient's consultation consent / feeding opposition."""
        granted = params.get("granted")
        if granted is not None and params.get("kind", "consultation") == "consultation" \
                and not params.get("patient_informed"):
            raise UserFacingError("Informez d'abord le patient (patient_informed) avant de recueillir son accord.",
                                  code=INVALID_PARAMS)
        return await self._service().consent(params["identity_id"], params.get("kind", "consultation"), granted,
                                             params.get("how"))
