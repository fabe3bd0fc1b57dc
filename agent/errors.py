"""Error types shared by the host and the plugins.

Two kinds matter to the user: `UserFacingError` carries a French sentence that can be shown as is
(popup, JSON-RPC `message`); `PluginNotReady` says a plugin cannot work *yet* (card middleware
missing, service down) and the host retries it with backoff while the rest of the agent runs.
Anything else is a bug: it is logged with the plugin's name and never shown as a traceback.
"""

from __future__ import annotations

from typing import Any


class VigieError(Exception):
    """Base class of Vigie's own errors."""


class UserFacingError(VigieError):
    """An error whose `message` is French text fit for the practitioner or the secretary.

    `code` is the JSON-RPC error code used when it crosses the local API (application errors live
    in -32000..-32099); `data` is optional structured detail for the LGC (no personal data).
    """

    def __init__(self, message: str, *, code: int = -32000, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


class PluginNotReady(VigieError):
    """Raised by a plugin's `startup` when a dependency is missing or unreachable for now."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RegistrationError(VigieError):
    """A plugin or one of its registrations breaks the host's rules (refused at startup)."""


class ConfigError(VigieError):
    """Invalid configuration; names the offending key in French and in English."""

    def __init__(self, key: str, message_fr: str, message_en: str) -> None:
        super().__init__(f"{key}: {message_fr} / {message_en}")
        self.key = key
        self.message_fr = message_fr
        self.message_en = message_en


class PermanentJobError(VigieError):
    """Raised by an outbox handler when retrying can never succeed (goes straight to dead letter)."""


class RetryJobLater(VigieError):
    """Raised by an outbox handler that knows when to try again (e.g. a service's own retry policy).

    The next attempt is due `retry_after` seconds later instead of the handler's exponential backoff.
    It counts as a failed attempt unless `count_attempt` is False (the job could not even run, e.g.
    its plugin has not started yet).
    """

    def __init__(self, reason: str, *, retry_after: float, count_attempt: bool = True) -> None:
        super().__init__(reason)
        self.retry_after = max(0.0, retry_after)
        self.count_attempt = count_attempt


class StoreUnavailable(UserFacingError):
    """The practice's shared database cannot be reached (network, server restarting, credentials).

    Not the fault of whatever was running: an outbox job that meets it is retried without using up
    an attempt, and the agent keeps answering the rest.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__("La base de données du cabinet est injoignable : le travail est gardé et repris "
                         "dès son retour." + (f" ({detail})" if detail else ""))
