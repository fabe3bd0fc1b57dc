"""The directory port: Annuaire Santé FHIR API (spec §2.5), with a local cache.

`search(name=…, rpps=…, address=…)` -> `[Entry]`: `Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|8<RPPS>`,
`Practitioner?name=…`, or `Practitioner?mailbox-mss:contains=…`; the mailbox is the `telecom` slice
`mailbox-mss` (system `email`). Answers are cached (table `mss_directory`, 24 h) so a practice keeps
finding its usual correspondents when the directory is slow or down. Header `ESANTE-API-KEY`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from agent.errors import UserFacingError

OID_RPPS = "urn:oid:1.2.250.1.71.4.2.1"
MAILBOX_EXTENSION = "https://annuaire.esante.gouv.fr/fhir/StructureDefinition/as-mailbox-mss-metadata"
CACHE_TTL = 24 * 3600.0


@dataclass(frozen=True)
class Entry:
    name: str
    rpps: str | None
    mailbox: str
    mailbox_type: str | None  # PER | ORG | APP | CAB


def _name(resource: dict[str, Any]) -> str:
    for n in resource.get("name") or []:
        parts = [*(n.get("prefix") or []), *(n.get("given") or []), n.get("family") or ""]
        text = " ".join(p for p in parts if p).strip()
        if text:
            return text
    return ""


def parse_bundle(bundle: dict[str, Any]) -> list[Entry]:
    out: list[Entry] = []
    for item in bundle.get("entry") or []:
        res = item.get("resource") or {}
        rpps = None
        for ident in res.get("identifier") or []:
            if ident.get("system") == OID_RPPS and str(ident.get("value", "")).startswith("8"):
                rpps = str(ident["value"])[1:]
        for tel in res.get("telecom") or []:
            if tel.get("system") != "email" or not tel.get("value"):
                continue
            kind = None
            for ext in tel.get("extension") or []:
                if ext.get("url") == MAILBOX_EXTENSION:
                    for sub in ext.get("extension") or []:
                        if sub.get("url") == "type":
                            kind = (sub.get("valueCodeableConcept") or {}).get("coding", [{}])[0].get("code")
            out.append(Entry(_name(res), rpps, str(tel["value"]), kind))
    return out


Cache = Callable[[str], Awaitable[tuple[list[dict[str, Any]], float] | None]]
Store = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


class Directory:
    def __init__(self, url: str | None, api_key: Callable[[], str | None], cache_get: Cache, cache_put: Store, *,
                 timeout: float = 5.0) -> None:
        self.url = url.rstrip("/") if url else None
        self._api_key = api_key
        self._get = cache_get
        self._put = cache_put
        self.timeout = timeout

    async def search(self, *, name: str | None = None, rpps: str | None = None,
                     address: str | None = None) -> list[Entry]:
        if rpps:
            params = {"identifier": f"{OID_RPPS}|8{rpps}"}
        elif address:
            params = {"mailbox-mss:contains": address}
        elif name:
            params = {"name": name}
        else:
            raise UserFacingError("Recherche dans l'annuaire : indiquez un nom, un RPPS ou une adresse.")
        key = json.dumps(params, sort_keys=True)
        cached = await self._get(key)
        if cached is not None and time.time() - cached[1] < CACHE_TTL:
            return [Entry(**e) for e in cached[0]]
        if not self.url:
            if cached is not None:
                return [Entry(**e) for e in cached[0]]
            raise UserFacingError("Annuaire Santé non configuré ([plugins.mss] directory_url).")
        headers = {"Accept": "application/fhir+json"}
        key_value = self._api_key()
        if key_value:
            headers["ESANTE-API-KEY"] = key_value
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.get(f"{self.url}/Practitioner", params=params, headers=headers) as resp:
                    if resp.status != 200:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                    bundle = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            if cached is not None:  # stale but useful: the usual correspondents stay reachable
                return [Entry(**e) for e in cached[0]]
            raise UserFacingError("Annuaire Santé injoignable : réessayez dans un instant.") from None
        entries = parse_bundle(bundle if isinstance(bundle, dict) else {})
        await self._put(key, [asdict(e) for e in entries])
        return entries
