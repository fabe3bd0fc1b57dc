"""The ordonnance as data: prescriber, patient, items (medicines, devices, free text), ALD split.

Pure dataclasses; `validation.parse_prescription` builds them from the LGC's JSON with French errors.
The legal content follows CSP R.5132-3 (prescriber identity with RPPS, patient identity with sex and
age, each medicine with posology and duration or quantity, date, signature) and the arrêté du
10 août 2010 (RPPS and AM number as Code 128 barcodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

MEDICINE, DEVICE, TEXT = "medicine", "device", "text"
ITEM_TYPES = (MEDICINE, DEVICE, TEXT)
# Non-substitution must be justified since 2020 (arrêté du 12 novembre 2019): MTE (marge thérapeutique
# étroite), EFG (enfant < 6 ans, no suitable generic form), CIF (contre-indication formelle).
NON_SUBSTITUTABLE_REASONS = ("MTE", "EFG", "CIF")
PAGE_SIZES = ("A4", "A5")

ALD_TITLE = ("Prescriptions relatives au traitement de l'affection de longue durée reconnue "
             "(liste ou hors liste)")
ALD_SUBTITLE = "(AFFECTION EXONÉRANTE)"
NON_ALD_TITLE = "Prescriptions SANS RAPPORT avec l'affection de longue durée"
NON_ALD_SUBTITLE = "(MALADIES INTERCURRENTES)"

TYPE_CODE = "57833-6"
TYPE_LABEL = "Prescription de produits de santé"


@dataclass(frozen=True)
class TwoDCode:
    """What the téléservice gave back: the identifier printed in clear, and the QR payload (opaque)."""

    identifier: str
    payload: str


@dataclass(frozen=True)
class Prescriber:
    last_name: str
    first_name: str
    profession: str  # e.g. "Médecin"
    rpps: str  # 11 digits, Luhn key
    am_number: str  # 9 characters, Assurance Maladie number of the practice
    address: tuple[str, ...]  # printed lines
    specialty: str | None = None  # e.g. "Médecine générale"
    phone: str | None = None
    title: str = "Dr"

    @property
    def display_name(self) -> str:
        return f"{self.title} {self.first_name} {self.last_name.upper()}".strip()


@dataclass(frozen=True)
class Patient:
    first_names: str
    sex: str  # F | M
    birth_name: str | None = None
    used_name: str | None = None
    birth_date: date | None = None
    age: str | None = None  # given when the birth date is not (e.g. "34 ans", "18 mois")
    weight_kg: float | None = None
    height_cm: float | None = None
    identity_id: str | None = None  # INS plugin identity; the INS is read from there, only when qualified

    @property
    def last_name(self) -> str:
        return (self.used_name or self.birth_name or "").upper()

    def age_on(self, day: date) -> str:
        if self.birth_date is None:
            return self.age or ""
        b = self.birth_date
        years = day.year - b.year - ((day.month, day.day) < (b.month, b.day))
        if years >= 3:
            return f"{years} ans"
        months = (day.year - b.year) * 12 + day.month - b.month - (day.day < b.day)
        return f"{max(months, 0)} mois"


@dataclass(frozen=True)
class Item:
    type: str  # medicine | device | text
    name: str = ""  # medicine name or DCI, device name; the line itself for `text`
    dci: str | None = None
    dosage: str | None = None  # e.g. "500 mg"
    form: str | None = None  # e.g. "comprimé"
    posology: str | None = None
    duration: str | None = None  # e.g. "5 jours"
    quantity: str | None = None  # e.g. "2 boîtes"
    renewals: int = 0
    non_substitutable: str | None = None  # MTE | EFG | CIF
    ald: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class Prescription:
    prescriber: Prescriber
    patient: Patient
    items: tuple[Item, ...]
    date: date
    comments: str | None = None
    signature_png: bytes | None = field(default=None, repr=False)
    page_size: str = "A4"

    @property
    def bizone(self) -> bool:
        return any(item.ald for item in self.items)

    @property
    def ald_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.ald)

    @property
    def other_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.ald)


def item_lines(item: Item) -> tuple[str, list[str]]:
    """The printed heading of an item and its detail lines (posology, duration, renewals...)."""
    if item.type == TEXT:
        return item.name, []
    head = item.name
    if item.dci and item.dci.lower() not in item.name.lower():
        head += f" ({item.dci})"
    head += "".join(f" {part}" for part in (item.dosage, item.form) if part)
    if item.type == DEVICE:
        head = f"{head} — dispositif médical"
    details: list[str] = []
    if item.posology:
        details.append(item.posology)
    if item.duration:
        details.append(f"Durée : {item.duration}")
    if item.quantity:
        details.append(f"Quantité : {item.quantity}")
    if item.renewals:
        details.append(f"À renouveler {item.renewals} fois")
    if item.non_substitutable:
        details.append(f"Non substituable ({item.non_substitutable})")
    if item.comment:
        details.append(item.comment)
    return head, details
