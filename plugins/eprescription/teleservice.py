"""The CNAM e-prescription téléservice, behind an interface (its specification is not public).

Assumptions (docs/eprescription.md; to replace with the CNAM "cahier des charges Ordonnance numérique –
prescripteur" once obtained):
- one synchronous call registers the prescription and returns a unique identifier and the QR payload,
  both treated as **opaque strings** (printed as given; the QR payload defaults to the identifier);
- the wire format is the sandbox's JSON over HTTPS (`POST <url>/prescriptions`), idempotent on
  `request_id` so a retried call cannot create two prescriptions;
- four outcomes matter to the practitioner: OK (identifier), KO (refused, with a code), no answer
  (timeout or unreachable) and module disabled. Only OK puts a 2D code on the paper.

The call is bounded by a short total timeout: printing never waits longer, then falls back.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from agent.errors import PluginNotReady

if TYPE_CHECKING:
    from plugins.eprescription.settings import EprescriptionSettings

log = logging.getLogger(__name__)

MAX_ID_CHARS = 64


class AnswerState(StrEnum):
    OK = "ok"
    KO = "ko"
    TIMEOUT = "timeout"  # no answer: timed out or unreachable
    DISABLED = "disabled"


@dataclass(frozen=True)
class TeleserviceAnswer:
    state: AnswerState
    identifier: str | None = None
    qr_payload: str | None = None
    reason: str | None = None  # French, why there is no 2D code (None when OK)
    error_code: str | None = None  # the téléservice's own code on KO
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "identifier": self.identifier, "reason": self.reason,
                "error_code": self.error_code, "elapsed_ms": round(self.elapsed_ms, 1)}


class Teleservice(Protocol):
    """Registers a prescription; never raises for a service problem (returns a non-OK answer)."""

    async def register(self, request: dict[str, Any]) -> TeleserviceAnswer: ...

    async def close(self) -> None: ...


FALLBACK = "ordonnance produite sans code 2D"


class DisabledTeleservice:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def register(self, request: dict[str, Any]) -> TeleserviceAnswer:
        return TeleserviceAnswer(AnswerState.DISABLED, reason=f"{self.reason} : {FALLBACK}.")

    async def close(self) -> None:
        return None


def _opaque(value: Any) -> str | None:
    """An identifier or payload as given, if printable and of sane size; anything else is refused."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS * 8 or not value.isprintable():
        return None
    return value


class HttpTeleservice:
    """The (assumed) JSON-over-HTTPS protocol the sandbox implements."""

    def __init__(self, url: str, *, timeout: float, ca_files: list[str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if ca_files:
            self._ssl = ssl.create_default_context()
            for path in ca_files:
                self._ssl.load_verify_locations(path)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=8)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def register(self, request: dict[str, Any]) -> TeleserviceAnswer:
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            async with asyncio.timeout(self.timeout):
                async with self._client().post(f"{self.url}/prescriptions", json=request) as resp:
                    status = resp.status
                    try:
                        body: Any = await resp.json(content_type=None)
                    except ValueError:
                        body = None
        except TimeoutError:
            return TeleserviceAnswer(AnswerState.TIMEOUT, elapsed_ms=elapsed(),
                                     reason=f"Le téléservice e-prescription n'a pas répondu en {self.timeout:g} s : "
                                            f"{FALLBACK}.")
        except aiohttp.ClientConnectorCertificateError:
            return TeleserviceAnswer(AnswerState.TIMEOUT, elapsed_ms=elapsed(), error_code="tls",
                                     reason="Le certificat du téléservice e-prescription n'est pas reconnu : "
                                            f"{FALLBACK}.")
        except aiohttp.ClientError as exc:
            log.warning("e-prescription téléservice unreachable: %s", type(exc).__name__)
            return TeleserviceAnswer(AnswerState.TIMEOUT, elapsed_ms=elapsed(),
                                     reason=f"Le téléservice e-prescription est injoignable : {FALLBACK}.")
        body = body if isinstance(body, dict) else {}
        if status in (200, 201):
            identifier = _opaque(body.get("identifier"))
            payload = _opaque(body.get("qr_payload")) if body.get("qr_payload") is not None else identifier
            if identifier is None or len(identifier) > MAX_ID_CHARS or payload is None:
                return TeleserviceAnswer(AnswerState.KO, elapsed_ms=elapsed(), error_code="reponse_invalide",
                                         reason=f"Réponse du téléservice e-prescription illisible : {FALLBACK}.")
            return TeleserviceAnswer(AnswerState.OK, identifier=identifier, qr_payload=payload, elapsed_ms=elapsed())
        code = str(body.get("code") or f"HTTP {status}")[:64]
        message = str(body.get("message") or "refus sans motif")[:300]
        return TeleserviceAnswer(AnswerState.KO, elapsed_ms=elapsed(), error_code=code,
                                 reason=f"Le téléservice e-prescription a refusé la prescription ({code} : {message}) "
                                        f": {FALLBACK}.")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def build_request(prescription: Any, request_id: str, ins: dict[str, str] | None) -> dict[str, Any]:
    """The (assumed) registration body: prescriber ids, patient (INS when qualified, else traits), items."""
    p = prescription
    patient: dict[str, Any] = {"sex": p.patient.sex, "first_names": p.patient.first_names,
                               "birth_name": p.patient.birth_name, "used_name": p.patient.used_name,
                               "birth_date": p.patient.birth_date.isoformat() if p.patient.birth_date else None}
    if ins is not None:
        patient["ins"] = ins
    return {
        "request_id": request_id,
        "date": p.date.isoformat(),
        "prescriber": {"rpps": p.prescriber.rpps, "am_number": p.prescriber.am_number},
        "patient": patient,
        "items": [{"type": i.type, "name": i.name, "dci": i.dci, "dosage": i.dosage, "form": i.form,
                   "posology": i.posology, "duration": i.duration, "quantity": i.quantity, "renewals": i.renewals,
                   "non_substitutable": i.non_substitutable, "ald": i.ald} for i in p.items],
    }


async def open_teleservice(settings: EprescriptionSettings) -> Teleservice:
    """The téléservice the settings name: disabled (each ordonnance says so, without a 2D code) or HTTPS."""
    if settings.disabled_reason or not settings.url:
        return DisabledTeleservice(settings.disabled_reason or "Téléservice non configuré")
    # The TLS context reads the system CA store and the extra CA files: disk I/O, off the event loop.
    try:
        return await asyncio.to_thread(HttpTeleservice, settings.url, timeout=settings.timeout,
                                       ca_files=settings.ca_files)
    except (OSError, ssl.SSLError) as exc:
        raise PluginNotReady("certificat d'autorité du téléservice e-prescription illisible "
                             f"([plugins.eprescription] ca_files : {exc.strerror or type(exc).__name__})") from exc
