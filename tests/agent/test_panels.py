"""The host's panel registry (agent/panels.py): what capabilities register, validated; the queue and the
tray counts; no capability known to the host."""

from __future__ import annotations

from typing import Any

import pytest

from agent.errors import RegistrationError
from agent.panels import DROP, QUEUE, RAISE, WAIT, Badge, PanelRegistry, decision, load_renderer


async def _view(key: str) -> dict[str, Any] | None:
    return {"key": key}


def _register(reg: PanelRegistry, kind: str = "dmp_document", **changes: Any) -> None:
    args: dict[str, Any] = {"view": _view, "renderer": "plugins.dmp.popup:DocumentPanel", "title": "Document à envoyer",
                            "queue_label": "Documents à envoyer", "methods": ("document.view",)}
    reg.panel_register_for("dmp")(kind, **{**args, **changes})


def test_panels_register_validates_and_refuses_duplicates() -> None:
    reg = PanelRegistry()
    _register(reg)
    with pytest.raises(RegistrationError, match="twice"):
        _register(reg)
    with pytest.raises(RegistrationError, match="module:Class"):
        _register(reg, kind="other", renderer="not a renderer")
    with pytest.raises(RegistrationError, match="lowercase"):
        _register(reg, kind="Bad Kind")
    assert reg.methods() == frozenset({"document.view"})


def test_panels_the_queue_counts_per_kind() -> None:
    reg = PanelRegistry()
    _register(reg)
    _register(reg, kind="identity", queue_label="Qualifications en attente", methods=("identity.view",))
    reg.offer("identity", "i-1", {"a": 1})
    reg.offer("identity", "i-2", {"a": 2})
    reg.offer("dmp_document", "d-1", {"b": 1})
    assert reg.counts() == [("dmp_document", "Documents à envoyer", 1), ("identity", "Qualifications en attente", 2)]
    assert reg.methods() == frozenset({"document.view", "identity.view"})


def test_panels_badges_a_failing_provider_never_breaks_the_tray() -> None:
    reg = PanelRegistry()

    def broken() -> Badge:
        raise RuntimeError("boom")

    reg.badge_register_for("dmp")("waiting", lambda: Badge(3, "Envois DMP en attente", hint="réseau coupé"))
    reg.badge_register_for("mss")("broken", broken)
    reg.badge_register_for("mss")("empty", lambda: Badge(0, "Messages"))
    assert reg.badge_values() == [Badge(3, "Envois DMP en attente", False, "réseau coupé")]
    with pytest.raises(RegistrationError):
        reg.badge_register_for("mss")("waiting", lambda: None)


@pytest.mark.parametrize(("answer", "expected"), [(RAISE, RAISE), (DROP, DROP), (WAIT, WAIT), (QUEUE, QUEUE),
                                                  (None, QUEUE), ("bogus", QUEUE)])
def test_panels_decision_defaults_to_queue(answer: Any, expected: str) -> None:
    assert decision(answer) == expected


def test_panels_load_renderer() -> None:
    assert load_renderer("agent.panels:PanelRegistry") is PanelRegistry
