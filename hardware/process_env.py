"""Environment variables that card libraries read once per process, set and guarded in one place.

libpcsclite reads `PCSCLITE_CSOCK_NAME` at its first connection attempt and keeps it for the life of
the process (checked here: a context attempted with one socket, later ones ignore a changed variable).
SoftHSM2 reads `SOFTHSM2_CONF` when the PKCS#11 module is initialised, and a module is loaded once per
process (`hardware.pkcs11.token.load_library`). Setting the variable after that point changes nothing
and says nothing: the card layer would keep talking to the first pcscd or token store. So the code
that reads through these libraries calls `library_reads` first, and the value in effect then is frozen;
`require` sets a value while it can still take effect and refuses a different one afterwards.

Only reads through `hardware/` are seen; a library used directly elsewhere in the process is not.
"""

from __future__ import annotations

import os
import threading
from collections.abc import MutableMapping

from hardware.errors import CardError

PCSC_SOCKET = "PCSCLITE_CSOCK_NAME"
SOFTHSM_CONF = "SOFTHSM2_CONF"


class SettingFrozen(CardError):
    """A once-per-process library setting was asked to change after the library read it."""

    def __init__(self, name: str, in_effect: str | None, wanted: str) -> None:
        super().__init__(f"{name} est déjà fixé pour ce processus ({in_effect or 'valeur par défaut'}) : "
                         "redémarrez l'agent pour utiliser la nouvelle valeur.", f"{name}: wanted {wanted}")
        self.name = name
        self.in_effect = in_effect
        self.wanted = wanted


class OncePerProcess:
    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self._frozen: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def library_reads(self, name: str) -> None:
        """Call just before a library may read `name`: the value in effect now is the process's."""
        with self._lock:
            self._frozen.setdefault(name, self.environ.get(name))

    def require(self, name: str, value: str) -> None:
        """Set `name` to `value` for the libraries of this process; SettingFrozen if one already read
        another value."""
        with self._lock:
            if name in self._frozen:
                if self._frozen[name] != value:
                    raise SettingFrozen(name, self._frozen[name], value)
                return
            self.environ[name] = value

    def frozen(self, name: str) -> bool:
        with self._lock:
            return name in self._frozen


PROCESS_ENV = OncePerProcess()
