"""DMP errors: what kind (retry or not), and the French sentence the practitioner reads.

Registry error codes are the IHE ones (ITI TF-3 Table 4.2.4.1-2) plus the DMP's functional refusals;
the DMP's own code names are not public [?] (CNAM DMPi guide), the sandbox uses the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # soap imports lxml, which an unconfigured agent never loads
    from plugins.dmp.soap import SoapFault

TRANSPORT, REJECTED, CARD, CONFIG = "transport", "rejected", "card", "config"

# errorCode -> French reason. Unlisted codes get the generic sentence with the DMP's codeContext.
REGISTRY_REASONS = {
    "XDSUnknownPatientId": "Ce patient n'a pas de DMP (Mon espace santé non ouvert).",
    "DMPClosed": "Le DMP de ce patient est fermé.",
    "DMPPatientOpposition": "Le patient s'est opposé à l'alimentation de son DMP.",
    "DMPNotAuthorized": "Vous n'êtes pas autorisé à accéder au DMP de ce patient.",
    "XDSRegistryMetadataError": "Métadonnées du document refusées par le DMP",
    "XDSRepositoryMetadataError": "Métadonnées du document refusées par le DMP",
    "XDSNonIdenticalHash": "Empreinte (SHA-1) du document refusée par le DMP",
    "XDSNonIdenticalSize": "Taille du document refusée par le DMP",
    "XDSMissingDocument": "Document absent de l'envoi",
    "DMPInvalidDocument": "Document refusé par le DMP",
    "XDSDocumentUniqueIdError": "Document inconnu du DMP",
}
DUPLICATE_CODES = ("XDSDuplicateUniqueIdInRegistry", "XDSRepositoryDuplicateUniqueIdInRegistry")
SECURITY_SUBCODES = ("InvalidSecurity", "FailedAuthentication", "InvalidSecurityToken", "FailedCheck")


class DmpError(Exception):
    """`kind`: transport | rejected | card | config; `message` is French, `detail` has no patient data."""

    def __init__(self, kind: str, message: str, *, detail: str = "", codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail
        self.codes = codes

    @property
    def retryable(self) -> bool:
        return self.kind in (TRANSPORT, CARD)


def explain_fault(fault: SoapFault, http_status: int) -> DmpError:
    if fault.subcode in SECURITY_SUBCODES:
        return DmpError(REJECTED, f"VIHF refusé par le DMP : {fault.reason}", detail=f"fault {fault.subcode}",
                        codes=(fault.subcode or "",))
    if fault.is_sender:
        return DmpError(REJECTED, f"Requête refusée par le DMP : {fault.reason}", detail=f"fault {fault.subcode}",
                        codes=(fault.subcode or "",))
    return DmpError(TRANSPORT, f"Erreur du service DMP : {fault.reason}", detail=f"fault {fault.code} {http_status}")


def explain_registry(errors: list[tuple[str, str, str]]) -> DmpError:
    """The refusal carried by a Failure RegistryResponse (never retried)."""
    reasons = []
    for code, context, _severity in errors:
        base = REGISTRY_REASONS.get(code, "Envoi refusé par le DMP")
        reasons.append(base if base.endswith(".") else f"{base} : {context}" if context else f"{base}.")
    return DmpError(REJECTED, " ".join(reasons) or "Envoi refusé par le DMP.",
                    codes=tuple(code for code, _, _ in errors))
