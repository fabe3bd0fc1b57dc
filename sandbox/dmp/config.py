"""Per-test behaviour of the DMP stand-in: latency, injected faults, the patients' DMP states.

    {"latency": 0.3,                      # seconds before each answer
     "faults": [{"action": "ProvideAndRegisterDocumentSet-b",  # suffix of the SOAP action; "" = any
                 "kind": "http_500" | "fault_receiver" | "fault_sender" | "timeout" | "slow"
                         | "hold_after_store" | "reset",
                 "times": 1,               # how many requests it hits (-1: all)
                 "delay": 5.0}],           # slow / hold_after_store / timeout: seconds held
     "patients": {"<INS>": {"dmp": "open" | "closed" | "none", "opposition": false,
                            "authorization": "VALIDE" | "NON_AUTORISE" | "INTERDIT", "treating": false}},
     "max_document_bytes": 20971520}
A patient not listed has an open DMP, no opposition, and no authorisation yet (TD0.3 adds it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("http_500", "fault_receiver", "fault_sender", "timeout", "slow", "hold_after_store", "reset")


@dataclass
class Fault:
    kind: str
    action: str = ""
    times: int = 1
    delay: float = 5.0

    def matches(self, action: str) -> bool:
        return self.times != 0 and action.endswith(self.action)


@dataclass
class PatientState:
    dmp: str = "open"
    opposition: bool = False
    authorization: str = "NON_AUTORISE"
    treating: bool = False


@dataclass
class DmpSandboxConfig:
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    patients: dict[str, PatientState] = field(default_factory=dict)
    max_document_bytes: int = 20 * 1024 * 1024

    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            if key == "latency":
                self.latency = float(value)
            elif key == "faults":
                faults = []
                for raw in value:
                    if raw.get("kind") not in FAULT_KINDS:
                        raise ValueError(f"unknown fault kind {raw.get('kind')!r}")
                    faults.append(Fault(**raw))
                self.faults = faults
            elif key == "patients":
                self.patients = {ins: PatientState(**state) for ins, state in value.items()}
            elif key == "max_document_bytes":
                self.max_document_bytes = int(value)
            else:
                raise ValueError(f"unknown DMP sandbox setting {key!r}")

    def patient(self, ins: str) -> PatientState:
        return self.patients.setdefault(ins, PatientState())

    def take_fault(self, action: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(action):
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None
