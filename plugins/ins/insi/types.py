"""Value types and errors of the INSi client (pure: no I/O, no import of the agent).

Strings returned by the service are kept as returned (stripped of surrounding whitespace only): the
comparison with local traits belongs to the INS rules, not to the transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPERATION_TRAITS = "rechercherInsAvecTraitsIdentite"
OPERATION_VITALE = "rechercherInsAvecCarteVitale"


# -- requests ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchTraits:
    """Inputs of `rechercherInsAvecTraitsIdentite` (insi.md §3.5), already normalised by the caller.

    `first_names` is the local list in order; the client applies the first-name strategy on it.
    `birth_date` is `AAAA-MM-JJ` (lunar dates allowed); `birth_place` a 5-character COG or None.
    """

    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None


@dataclass(frozen=True)
class VitaleSearch:
    """Inputs of `rechercherInsAvecCarteVitale` (insi.md §3.6), as read from the Vitale card.

    Body `RECVITALE`: the beneficiary's own NIR (`MatriculeIndividu`, only when the card has one),
    the insured person's number (`MatriculeOD`), birth name, card birth date (may be lunar), birth
    rank. `ContexteBAM/COUVERTURE`: the insured's number (`ASSURE/Id`) and the beneficiary block
    (`BENEFICIAIRE/{Nir, DateNai, Rang}`) plus the optional scheme codes. Matricules are 13
    characters without their key; keys are 2 digits.
    """

    insured_nir: str | None = None
    insured_nir_key: str | None = None
    beneficiary_nir: str | None = None
    beneficiary_nir_key: str | None = None
    beneficiary_nir_certified_on: str | None = None  # BENEFICIAIRE/Nir/DateCertification (AAAA-MM-JJ)
    birth_name: str | None = None
    birth_date: str | None = None
    birth_rank: int | None = None
    matricule_type: str | None = None  # TypeMatricule, sent only when known
    grand_regime: str | None = None
    organisme: str | None = None
    code_centre: str | None = None
    holder: str | None = None  # BENEFICIAIRE/Porteur (one digit), sent only when known


# -- responses -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class InsId:
    """One INS (`INSACTIF` or `INSHISTO`): matricule (13 characters, no key), key, OID.

    `key_valid` is False when the key is missing or fails the mod-97 check (test-book cases do):
    the response is kept, the inconsistency is flagged for the caller to decide.
    """

    matricule: str
    key: str | None
    oid: str
    key_valid: bool
    matricule_type: str | None = None
    start_date: str | None = None
    end_date: str | None = None

    @property
    def full(self) -> str:
        """Matricule + key (15 characters when the key is present)."""
        return self.matricule + (self.key or "")


@dataclass(frozen=True)
class ReturnedTraits:
    """`TIQ`: the reference traits as returned (each may be absent)."""

    birth_name: str | None = None
    first_name: str | None = None  # `Prenom` (CNDA fixtures only)
    first_names_list: str | None = None  # `ListePrenom`, space-separated
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None


@dataclass(frozen=True)
class InsiResponse:
    cr_code: str
    cr_label: str
    active: InsId | None = None
    history: list[InsId] = field(default_factory=list)
    traits: ReturnedTraits | None = None

    @property
    def found(self) -> bool:
        return self.cr_code == "00" and self.active is not None


# -- errors --------------------------------------------------------------------------------------
class InsiError(Exception):
    """Base of the client's errors; `message_fr` can be shown to the practitioner as is."""

    retryable: bool = False

    def __init__(self, message_fr: str, *, detail: str | None = None) -> None:
        super().__init__(detail or message_fr)
        self.message_fr = message_fr
        self.detail = detail  # English / technical detail for logs (no personal data)


class InsiFault(InsiError):
    """A SOAP 1.2 fault from the service (insi.md §5).

    `siram` is the subcode (`siram_100`), `desir` / `insi_code` the `siram:Erreur@code` when it is a
    `desir_NNN` / `insi_NNN` code (lower-cased), `error_code` the most specific code available.
    """

    def __init__(self, message_fr: str, *, retryable: bool, soap_code: str | None, subcode: str | None,
                 siram: str | None, desir: str | None, insi_code: str | None, error_code: str | None,
                 reason: str | None = None, error_text: str | None = None, severity: str | None = None,
                 message_id: str | None = None) -> None:
        super().__init__(message_fr, detail=f"INSi fault {soap_code}/{subcode}/{error_code}")
        self.retryable = retryable
        self.soap_code = soap_code
        self.subcode = subcode
        self.siram = siram
        self.desir = desir
        self.insi_code = insi_code
        self.error_code = error_code
        self.reason = reason  # soap:Reason/Text, the service's own sentence
        self.error_text = error_text  # siram:Erreur text
        self.severity = severity
        self.message_id = message_id  # siram:Erreur@messageID, our wsa:MessageID echoed


class InsiTimeout(InsiError):
    retryable = True

    def __init__(self, message_fr: str = "Le service INSi n'a pas répondu à temps.", *,
                 detail: str | None = None) -> None:
        super().__init__(message_fr, detail=detail)


class InsiUnavailable(InsiError):
    """HTTP error without a SOAP fault, connection or TLS failure."""

    def __init__(self, message_fr: str = "Le service INSi est injoignable.", *, status: int | None = None,
                 retryable: bool = True, detail: str | None = None) -> None:
        super().__init__(message_fr, detail=detail)
        self.status = status
        self.retryable = retryable


class InsiMalformedResponse(InsiError):
    def __init__(self, message_fr: str = "Réponse du service INSi illisible.", *,
                 detail: str | None = None) -> None:
        super().__init__(message_fr, detail=detail)


class InsiConfigError(InsiError):
    """The client cannot be used as configured (certificate, passphrase, CA files, signer...)."""


class InsiCardMissing(InsiConfigError):
    """CPS mode with no card in a reader: nothing is signed or sent; the lookup waits for the card."""


# -- audit ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InsiExchange:
    """One HTTP exchange, for the audit table: raw request, raw response (or fault), timings.

    `started_at` is a Unix time; `error` is a short technical tag (`timeout`, `http_503`,
    `fault:siram_100:desir_550`, `malformed`, `connection`, `tls`) or None when a RESULTAT was read.
    """

    operation: str
    message_id: str
    started_at: float
    duration_ms: float
    http_status: int | None
    error: str | None
    request_xml: str
    response_xml: str | None


@dataclass
class SearchOutcome:
    """What a search gives: the final response or the error that stopped it, and every exchange.

    `response` is the response of the last call made (CR 00 when found); it may be set together
    with `error` when a later call failed. `first_names_sent` lists the `Prenom` value of each
    call in order (`""` when none was sent).
    """

    response: InsiResponse | None
    error: InsiError | None
    exchanges: list[InsiExchange] = field(default_factory=list)
    first_names_sent: tuple[str, ...] = ()
