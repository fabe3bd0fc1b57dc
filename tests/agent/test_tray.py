"""The tray's icon state, tooltip and menu as a pure function of the agent's state."""

from __future__ import annotations

import pytest

from agent.tray import ATTENTION, DEGRADED, READY, WORKING, MenuEntry, TraySnapshot, build_tray, icon_image

OK_PLUGINS = [{"name": "ins", "status": "ok"}, {"name": "ui", "status": "ok"}]


def labels(entries: tuple[MenuEntry, ...]) -> list[str]:
    return [e.label for e in entries]


def find(entries: tuple[MenuEntry, ...], prefix: str) -> MenuEntry:
    return next(e for e in entries if e.label.startswith(prefix))


@pytest.mark.parametrize(
    ("snapshot", "state"),
    [
        (TraySnapshot(plugins=OK_PLUGINS), READY),
        (TraySnapshot(plugins=OK_PLUGINS, outbox={"pending": 2}), WORKING),
        (TraySnapshot(plugins=OK_PLUGINS, outbox={"running": 1}), WORKING),
        (TraySnapshot(plugins=OK_PLUGINS, to_qualify=1, outbox={"running": 1}), ATTENTION),
        (TraySnapshot(plugins=OK_PLUGINS, pairing=[(1, "LGC")]), ATTENTION),
        (TraySnapshot(plugins=OK_PLUGINS, outbox={"dead": 1}), ATTENTION),
        (TraySnapshot(plugins=[{"name": "ins", "status": "degraded"}], to_qualify=3), DEGRADED),
    ],
)
def test_build_tray_icon_state(snapshot: TraySnapshot, state: str) -> None:
    assert build_tray(snapshot).state == state


def test_build_tray_tooltip_counts() -> None:
    model = build_tray(TraySnapshot(plugins=[{"name": "ins", "status": "degraded"}], to_qualify=2,
                                    outbox={"pending": 1, "running": 2, "dead": 1}, pairing=[(4, "LGC")]))
    assert model.tooltip == ("Vigie - 2 identités à qualifier · envois : 3 en attente, 1 en échec · "
                             "1 demande d'appairage · dégradé : ins")
    assert build_tray(TraySnapshot()).tooltip == "Vigie - 0 identité à qualifier · envois : 0 en attente, 0 en échec"


def test_build_tray_tooltip_is_short_and_latin1() -> None:
    plugins = [{"name": f"module-{i}", "status": "degraded"} for i in range(30)]
    tip = build_tray(TraySnapshot(plugins=plugins)).tooltip
    assert len(tip) <= 127 and tip.endswith("...")
    tip.encode("latin-1")  # the X backend writes it as WM_NAME (STRING)


def test_build_tray_menu_ready_outside_sandbox() -> None:
    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, items=[("Insérer une carte Vitale de test", "sandbox"),
                                                               ("Lot INS du jour", "main")]))
    assert labels(model.menu) == ["Qualifications en attente (0)", "Scanner un Datamatrix INS…",
                                  "Lecteurs et services", "Lot INS du jour", "Ouvrir le dossier des journaux",
                                  "Exporter un diagnostic (anonymisé)", "Quitter Vigie"]
    pending = find(model.menu, "Qualifications")
    assert not pending.enabled and not pending.default
    assert find(model.menu, "Scanner").default  # the click action when nothing waits
    assert find(model.menu, "Lot INS").action == ("item", 1)
    assert find(model.menu, "Quitter").action == ("quit",)


def test_build_tray_menu_pending_and_pairing() -> None:
    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, to_qualify=3, pairing=[(7, "Mon LGC")]))
    pending = find(model.menu, "Qualifications")
    assert pending.label == "Qualifications en attente (3)" and pending.enabled and pending.default
    assert pending.action == ("open", "queue")
    pairing = find(model.menu, "Demandes d'appairage")
    assert pairing.label == "Demandes d'appairage (1)"
    assert [(e.label, e.action) for e in pairing.children] == [
        ("Autoriser « Mon LGC »", ("pairing", 7, True)), ("Refuser « Mon LGC »", ("pairing", 7, False))]


def test_build_tray_menu_sandbox_section() -> None:
    items = [("Insérer une carte Vitale de test", "sandbox"), ("Scanner un Datamatrix INS de test", "sandbox")]
    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, sandbox=True, items=items))
    sandbox = find(model.menu, "Bac à sable")
    assert [(e.label, e.action) for e in sandbox.children] == [
        ("Insérer une carte Vitale de test", ("item", 0)), ("Scanner un Datamatrix INS de test", ("item", 1))]
    assert labels(model.menu)[-2:] == ["Bac à sable", "Quitter Vigie"]
    empty = find(build_tray(TraySnapshot(sandbox=True)).menu, "Bac à sable")
    assert [(e.label, e.action) for e in empty.children] == [("(aucune action)", None)]


def test_build_tray_menu_readers_and_services() -> None:
    model = build_tray(TraySnapshot(
        plugins=[{"name": "ins", "status": "degraded"}],
        readers=[{"name": "Virtual PCD 00 00"}], services={"insi": {"state": "erreur"}}))
    status = find(model.menu, "Lecteurs et services")
    assert labels(status.children) == ["Lecteur : Virtual PCD 00 00", "Service insi : erreur",
                                       "Module ins : degraded"]
    assert all(e.action is None for e in status.children)
    assert labels(find(build_tray(TraySnapshot()).menu, "Lecteurs").children) == ["Aucun lecteur de cartes"]


@pytest.mark.parametrize("state", [READY, WORKING, ATTENTION, DEGRADED])
def test_icon_image_per_state(state: str) -> None:
    image = icon_image(state)
    assert image.size == (64, 64)
    assert image.getpixel((32, 8))[3] == 255  # drawn, opaque where the disc is


def test_menu_payload_and_actions() -> None:
    from agent.tray import menu_actions, menu_payload

    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, to_qualify=0, pairing=[(3, "LGC")], sandbox=True,
                                    items=[("Insérer une carte Vitale de test", "sandbox")]))
    payload = menu_payload(model.menu)
    assert payload[0] == {"label": "Qualifications en attente (0)", "action": ["open", "queue"], "enabled": False,
                          "children": []}
    pairing = next(p for p in payload if p["label"].startswith("Demandes"))
    assert [c["action"] for c in pairing["children"]] == [["pairing", 3, True], ["pairing", 3, False]]
    actions = menu_actions(model.menu)
    assert ("open", "queue") not in actions  # disabled: nothing waits
    assert {("open", "scan"), ("pairing", 3, True), ("pairing", 3, False), ("item", 0), ("logs",),
            ("diagnostic",), ("quit",)} == actions


async def test_ui_runs_only_menu_actions_the_menu_offers() -> None:
    import asyncio
    from types import SimpleNamespace

    from agent.ui import UiPlugin

    ran: list[tuple[object, ...]] = []

    async def run(action: tuple[object, ...]) -> None:
        ran.append(action)

    ui = UiPlugin()
    ui.tray = SimpleNamespace(model=build_tray(TraySnapshot(plugins=OK_PLUGINS)),  # type: ignore[assignment]
                              actions=SimpleNamespace(run=run))
    ui._on_popup({"op": "menu_action", "action": ["quit"]})
    ui._on_popup({"op": "menu_action", "action": ["item", 99]})  # not in the menu: ignored
    ui._on_popup({"op": "menu_action", "action": ["open", "queue"]})  # disabled (nothing waits): ignored
    await asyncio.sleep(0.05)
    assert ran == [("quit",)]
