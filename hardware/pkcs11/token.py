"""A CPS/CPE token through PKCS#11: its certificate, and signatures with its authentication key.

Blocking calls (card I/O, PIN prompt): run them in a worker thread. The PIN is asked through the
`ask_pin(tries_left)` callable given by the caller (a popup in the agent) each time a login is
needed; it is passed to `C_Login` and forgotten, never logged or kept. The logged-in session stays
open while the card is in, as the CPS middleware does, so the PIN is asked once per insertion.
Implements the INS plugin's `Signer` port structurally (`certificate()`, `sign(data)`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11

from hardware.errors import CardError, PinError
from hardware.pkcs11.identity import CardHolder, holder_from_certificate
from hardware.process_env import PROCESS_ENV, SOFTHSM_CONF

log = logging.getLogger(__name__)

AUTH_ID_SUFFIX = b"\x20"  # CPS convention: CKA_ID ending 0x20 = authentication pair, 0x10 = signature
_libs: dict[str, Any] = {}
_libs_lock = threading.Lock()

REMOVED = (p11.TokenNotPresent, p11.DeviceRemoved, p11.SessionHandleInvalid, p11.SessionClosed,
           p11.TokenNotRecognised, p11.NoSuchToken)
CARD_REMOVED_FR = "La carte CPS a été retirée pendant l'opération : réinsérez-la et recommencez."
CARD_GONE_FR = "La carte CPS a été retirée : réinsérez-la."


def load_library(module: Path) -> Any:
    """One loaded module per path for the process (PKCS#11 C_Initialize is per process)."""
    with _libs_lock:
        lib = _libs.get(str(module))
        if lib is None:
            PROCESS_ENV.library_reads(SOFTHSM_CONF)  # SoftHSM2 (tests, sandbox) reads it at initialisation
            try:
                lib = _libs[str(module)] = pkcs11.lib(str(module))
            except Exception as exc:  # the module could not be loaded (missing dependency, wrong arch)
                raise CardError("Module PKCS#11 de la carte CPS inutilisable.", f"{module}: {exc}") from None
        return lib


def translate(exc: Exception) -> CardError:
    """A PKCS#11 failure as the French error the user sees."""
    if isinstance(exc, p11.PinIncorrect):
        return PinError("Code porteur incorrect.")
    if isinstance(exc, p11.PinLocked):
        return PinError("Code porteur bloqué : débloquez la carte avec son code de déblocage.")
    if isinstance(exc, p11.PinExpired):
        return PinError("Code porteur expiré : changez-le avec l'outil de la carte.")
    if isinstance(exc, p11.PinLenRange | p11.PinInvalid):
        return PinError("Code porteur invalide (longueur ou caractères).")
    if isinstance(exc, REMOVED):
        return CardError(CARD_REMOVED_FR, type(exc).__name__)
    return CardError("Échec de l'opération sur la carte CPS.", type(exc).__name__)


class Pkcs11Token:
    def __init__(self, module: Path, *, ask_pin: Callable[[int | None], str | None],
                 token_label: str | None = None, reader: str | None = None,
                 auth_key_id: bytes | None = None, kind_policies: Mapping[str, str] | None = None) -> None:
        self.module = module
        self.ask_pin = ask_pin
        self.token_label = token_label
        self.reader = reader
        self.auth_key_id = auth_key_id
        self.kind_policies = dict(kind_policies or {})
        self._lock = threading.RLock()
        self._token: Any = None
        self._session: Any = None  # logged-in session, kept while the card is in
        self._cert: bytes | None = None
        self._key_id: bytes | None = None
        self.holder: CardHolder | None = None
        self._closed = False

    # -- reading (no PIN) -------------------------------------------------------------------
    def _find_token(self) -> Any:
        lib = load_library(self.module)
        tokens = []
        unreadable: list[str] = []
        for slot in lib.get_slots(token_present=True):
            # One slot's token may be unreadable (a card pulled out between the slot list and this call, a
            # token deleted behind the module's back: SoftHSM2 then answers CKR_GENERAL_ERROR for its slot
            # for the rest of the process): that says nothing about the token we look for in another slot.
            try:
                token = slot.get_token()
                description = slot.slot_description
            except Exception as exc:
                unreadable.append(f"slot {slot.slot_id}: {type(exc).__name__}")
                continue
            if self.token_label is not None:
                if token.label.strip() == self.token_label:
                    return token
            elif self.reader is not None and self.reader in description:
                return token
            if TokenFlag(token.flags) & TokenFlag.TOKEN_INITIALIZED:  # a blank token is no CPS
                tokens.append(token)
        if self.token_label is None and tokens:
            return tokens[0]
        raise CardError("Aucune carte CPS/CPE trouvée par le module PKCS#11.",
                        f"label={self.token_label!r} reader={self.reader!r} unreadable={unreadable}")

    def open(self) -> CardHolder:
        """Find the token, read its authentication certificate and who it names."""
        with self._lock:
            self._check_not_closed()
            try:
                token = self._find_token()
                with token.open() as session:  # public session: certificates need no PIN
                    certs = [(bytes(c[Attribute.ID]), bytes(c[Attribute.VALUE]))
                             for c in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
            except CardError:
                raise
            except Exception as exc:
                raise translate(exc) from None
            if not certs:
                raise CardError("La carte CPS ne porte aucun certificat.")
            chosen = self._pick(certs)
            self._token, self._key_id, self._cert = token, chosen[0], chosen[1]
            self.holder = holder_from_certificate(chosen[1], self.kind_policies)
            return self.holder

    def _pick(self, certs: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
        if self.auth_key_id is not None:
            for cert in certs:
                if cert[0] == self.auth_key_id:
                    return cert
            raise CardError("Certificat d'authentification introuvable sur la carte.",
                            f"CKA_ID {self.auth_key_id.hex()}")
        return next((c for c in certs if c[0].endswith(AUTH_ID_SUFFIX)), certs[0])

    def certificate(self) -> bytes:
        with self._lock:
            self._check_not_closed()
            if self._cert is None:
                self.open()
            assert self._cert is not None
            return self._cert

    # -- signing (PIN) -------------------------------------------------------------------------
    def _login(self) -> Any:
        token = self._token
        flags = TokenFlag(token.flags)
        if flags & TokenFlag.USER_PIN_LOCKED:
            raise translate(p11.PinLocked())
        if flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:  # pin-pad reader or middleware prompt
            return token.open(user_pin=pkcs11.PROTECTED_AUTH)
        tries = 1 if flags & TokenFlag.USER_PIN_FINAL_TRY else None
        pin = self.ask_pin(tries)
        if not pin:
            raise PinError("Saisie du code porteur annulée.")
        try:
            return token.open(user_pin=pin)
        finally:
            del pin

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 over SHA-256 with the authentication key (`SHA256_RSA_PKCS`)."""
        with self._lock:
            self._check_not_closed()
            if self._token is None:
                self.open()
            try:
                if self._session is None:
                    self._session = self._login()
                key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=self._key_id)
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            except CardError:
                raise
            except Exception as exc:
                self._drop_session()
                if isinstance(exc, p11.NoSuchKey) and not self._still_there():
                    raise CardError(CARD_REMOVED_FR, "token gone during the signature") from None
                raise translate(exc) from None

    def _still_there(self) -> bool:
        """Whether our token is still in a slot (a key vanishing mid-session means the card left)."""
        try:
            self._find_token()
        except Exception:  # no slot, no token, module error: gone either way
            return False
        return True

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception as exc:  # already gone with the card
                log.debug("PKCS#11 session close: %s", type(exc).__name__)

    def _check_not_closed(self) -> None:
        if self._closed:
            raise CardError(CARD_GONE_FR, "token closed (card removed)")

    def close(self) -> None:
        """The card was removed: log out, and refuse any later use of this handle.

        Final on purpose: a holder of this signer that outlived the card (a client built while it was in)
        must not reopen the token behind the card layer's back. Such a session would stay logged in
        with nobody left to close it, and PKCS#11 logins are per process and token: the next handle's
        `C_Login` (the card put back) would fail with CKR_USER_ALREADY_LOGGED_IN."""
        with self._lock:
            self._closed = True
            self._drop_session()
            self._token = None
