"""SOAP 1.2 faults of the INSi service and the catalogue of injectable faults.

Two wire shapes are copied from the samples (insi.md §5):

- style `soap`, as FAULT_siram_100_desir_550_unknown_IDAM: `env:Body` then `soap:` prefixes,
  `siram:Erreur code=… messageID=… severite=…` (messageID = the request's wsa:MessageID);
- style `S`, as FAULT_siram_40_insi_102_technical: `env:Body xmlns:S=… xmlns:env=…`, `S:Fault xmlns:ns4=…`,
  `siram:Erreur severite=… code=…` with no messageID, `xml:lang="en"` and `severite="fatal"`.

Known faults (insi.md §5); those marked *sandbox* are shapes the sources do not show:

| name | Code / Subcode | siram:Erreur@code | note |
|---|---|---|---|
| `siram_100` (alias `desir_550`) | Sender / siram_100 | desir_550 | exactly the sample |
| `desir_560` | Sender / siram_100 | desir_560 | *sandbox* shape; texts from the padoa README |
| `siram_40` | Receiver / siram_40 | insi_102 | exactly the sample (traits); Vitale text adapted |
| `siram_40_desir_1020` | Sender / siram_40 | desir_1020 | *sandbox* shape around the fixture's text |

Requests the service cannot even read (bad XML, SOAP 1.1, missing WS-Addressing headers, unknown action,
schema violations) get a plain SOAP fault without `Detail`, in the style of the JAX-WS stack the `S:`/`ns4`
sample betrays: a client must cope with a fault that carries no siram code.

Injectable kinds (`FaultRule.fault`): the names above, `http_NNN` (an HTML error page with that status, as a
reverse proxy sends), `timeout` (hold the request, then answer normally), `malformed` (HTTP 200 with a
truncated envelope), `empty` (HTTP 200, empty body), `reset` (close the connection without an answer), and
`none` (only the rule's delay).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sandbox.insi.responses import SOAP11_ENV, SOAP_ENV, WSA, Addressing, attr, envelope, text

SIRAM_40_REASON = ("Le service est temporairement inaccessible. Veuillez renouveler votre demande ultérieurement. "
                   "Si le problème persiste, contactez l'éditeur du progiciel ou votre responsable informatique.")
TECHNICAL_TRAITS = "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique."
TECHNICAL_VITALE = "L'appel au service de recherche avec la carte Vitale renvoie une erreur technique."

_SUBCODE_NS = {"wsa": WSA}


@dataclass(frozen=True)
class SoapFault:
    code: str  # Sender | Receiver | VersionMismatch
    subcode: str | None  # siram_NN (soap namespace) or prefix:local with a prefix of _SUBCODE_NS
    reason: str
    lang: str = "fr"
    erreur_code: str | None = None  # siram:Erreur@code; None: no Detail
    severite: str = "erreur"
    detail: str = ""
    style: str = "soap"  # soap | S
    with_message_id: bool = True

    def with_detail(self, detail: str) -> SoapFault:
        return replace(self, detail=detail)

    def render(self, message_id: str | None = None, addressing: Addressing | None = None) -> bytes:
        p = "soap" if self.style == "soap" else "S"
        sub = ""
        if self.subcode:
            prefix, _, local = self.subcode.rpartition(":")
            if prefix:
                sub = (f'<{p}:Subcode><{p}:Value xmlns:{prefix}="{_SUBCODE_NS[prefix]}">{prefix}:{local}'
                       f"</{p}:Value></{p}:Subcode>")
            else:
                sub = f"<{p}:Subcode><{p}:Value>{p}:{local}</{p}:Value></{p}:Subcode>"
        detail = ""
        if self.erreur_code is not None:
            mid = f' messageID="{attr(message_id)}"' if (message_id and self.with_message_id) else ""
            if self.style == "soap":
                attrs = f'code="{attr(self.erreur_code)}"{mid} severite="{attr(self.severite)}"'
            else:
                attrs = f'severite="{attr(self.severite)}" code="{attr(self.erreur_code)}"{mid}'
            detail = (f'<{p}:Detail><siram:Erreur {attrs} xmlns:siram="urn:siram">{text(self.detail)}'
                      f"</siram:Erreur></{p}:Detail>")
        fault_open = "<soap:Fault>" if self.style == "soap" else f'<S:Fault xmlns:ns4="{SOAP11_ENV}">'
        content = (f"{fault_open}<{p}:Code><{p}:Value>{p}:{self.code}</{p}:Value>{sub}</{p}:Code>"
                   f'<{p}:Reason><{p}:Text xml:lang="{self.lang}">{text(self.reason)}</{p}:Text></{p}:Reason>'
                   f"{detail}</{p}:Fault>")
        if self.style == "soap":
            body_open = f'<env:Body xmlns:env="{SOAP_ENV}">'
        else:
            body_open = f'<env:Body xmlns:S="{SOAP_ENV}" xmlns:env="{SOAP_ENV}">'
        return envelope(body_open, content, "</env:Body>", addressing)


UNKNOWN_IDAM = SoapFault(
    code="Sender", subcode="siram_100",
    reason=("L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel ou votre "
            "responsable informatique."),
    erreur_code="desir_550", detail="Numéro d'autorisation du logiciel inconnu.",
)
ACCESS_LEVEL = SoapFault(
    code="Sender", subcode="siram_100",
    reason="Vous ne disposez pas des droits suffisants pour accéder à ce service.",
    erreur_code="desir_560", detail="Niveau d'accès insuffisant.",
)
TECHNICAL = SoapFault(
    code="Receiver", subcode="siram_40", reason=SIRAM_40_REASON, lang="en", erreur_code="insi_102",
    severite="fatal", detail=TECHNICAL_TRAITS, style="S", with_message_id=False,
)
UNAVAILABLE = SoapFault(
    code="Sender", subcode="siram_40", reason=SIRAM_40_REASON, erreur_code="desir_1020",
    detail="Le service appelé est temporairement indisponible.",
)

SOAP_FAULTS: dict[str, SoapFault] = {
    "siram_100": UNKNOWN_IDAM,
    "desir_550": UNKNOWN_IDAM,
    "desir_560": ACCESS_LEVEL,
    "siram_40": TECHNICAL,
    "siram_40_desir_1020": UNAVAILABLE,
}
OTHER_KINDS = ("none", "timeout", "malformed", "empty", "reset")
HTTP_KIND = re.compile(r"http_([45]\d\d)")


def plain_fault(reason: str, *, code: str = "Sender", subcode: str | None = None) -> SoapFault:
    """A stack-level fault (no siram Detail), JAX-WS style."""
    return SoapFault(code=code, subcode=subcode, reason=reason, lang="en", erreur_code=None, style="S")


def http_status(kind: str) -> int | None:
    match = HTTP_KIND.fullmatch(kind)
    return int(match.group(1)) if match else None


def check_kind(kind: str) -> str:
    if kind in SOAP_FAULTS or kind in OTHER_KINDS or http_status(kind) is not None:
        return kind
    raise ValueError(f"unknown fault {kind!r}: one of {', '.join([*SOAP_FAULTS, *OTHER_KINDS])} or http_NNN "
                     "(400-599)")


def html_error_page(status: int, reason: str) -> bytes:
    return (f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1>"
            "<p>The server is temporarily unable to service your request.</p></body></html>\n").encode()
