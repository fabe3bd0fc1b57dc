"""An Annuaire Santé stand-in: `GET /fhir/v2/Practitioner` (FHIR R4 searchset) with a few practitioners.

Search parameters as the real API (spec §2.5): `identifier=urn:oid:1.2.250.1.71.4.2.1|8<RPPS>`,
`name=` (family or given, case-insensitive, prefix), `mailbox-mss:contains=`. The mailbox is the
`telecom` slice `mailbox-mss` (system `email`) with the `as-mailbox-mss-metadata` extension (type).
An `ESANTE-API-KEY` header is required, like the real gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from plugins.mss.directory import MAILBOX_EXTENSION, OID_RPPS


@dataclass(frozen=True)
class Practitioner:
    rpps: str
    prefix: str
    given: str
    family: str
    mailbox: str
    kind: str = "PER"


def resource(p: Practitioner) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner", "id": f"sandbox-{p.rpps}",
        "identifier": [{"system": OID_RPPS, "value": f"8{p.rpps}"}],
        "name": [{"prefix": [p.prefix], "given": [p.given], "family": p.family}],
        "telecom": [{"system": "email", "value": p.mailbox, "extension": [{"url": MAILBOX_EXTENSION, "extension": [
            {"url": "type", "valueCodeableConcept": {"coding": [{"code": p.kind}]}}]}]}],
    }


def search(people: list[Practitioner], query: dict[str, str]) -> list[Practitioner]:
    out = list(people)
    if "identifier" in query:
        value = query["identifier"].split("|", 1)[-1]
        out = [p for p in out if f"8{p.rpps}" == value]
    if "name" in query:
        needle = query["name"].lower()
        out = [p for p in out if p.family.lower().startswith(needle) or p.given.lower().startswith(needle)]
    if "mailbox-mss:contains" in query:
        needle = query["mailbox-mss:contains"].lower()
        out = [p for p in out if needle in p.mailbox.lower()]
    return out


def routes(people: list[Practitioner], api_key: str) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/fhir/v2/Practitioner")
    async def practitioner(request: web.Request) -> web.Response:
        if request.headers.get("ESANTE-API-KEY") != api_key:
            return web.json_response({"resourceType": "OperationOutcome", "issue": [{"code": "security"}]},
                                     status=401)
        found = search(people, dict(request.query))
        return web.json_response({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                                  "entry": [{"resource": resource(p)} for p in found]},
                                 content_type="application/fhir+json")

    return table
