"""Errors of the card layer, with the French message the user sees (no agent imports here).

The plugin turns them into `UserFacingError`s; `CardRemoved` is a normal outcome (the card left the
reader mid-operation), not a bug.
"""

from __future__ import annotations


class CardError(Exception):
    """A card operation failed; `message_fr` is shown to the user, `detail` is for the log."""

    def __init__(self, message_fr: str, detail: str | None = None) -> None:
        super().__init__(message_fr)
        self.message_fr = message_fr
        self.detail = detail


class CardRemoved(CardError):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__("La carte a été retirée pendant la lecture : réinsérez-la.", detail)


class ServiceUnavailable(CardError):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__("Le service de cartes à puce (PC/SC) ne répond pas.", detail)


class NotAvailable(CardError):
    """A backend that cannot work here (library not installed): says so, never invents data."""


class PinError(CardError):
    """Wrong, locked or refused PIN."""
