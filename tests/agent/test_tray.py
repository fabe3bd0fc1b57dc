"""The tray's icon state, tooltip and menu as a pure function of the agent's state."""

from __future__ import annotations

import pytest

from agent.panels import Badge
from agent.tray import ATTENTION, DEGRADED, READY, WORKING, MenuEntry, TraySnapshot, build_tray, icon_image

OK_PLUGINS = [{"name": "ins", "status": "ok"}, {"name": "ui", "status": "ok"}]
LABEL = "Qualifications en attente"  # what the INS plugin registers (register_ui_panels)


def queued(n: int) -> list[tuple[str, str, int]]:
    return [("identity", LABEL, n)]


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
        (TraySnapshot(plugins=OK_PLUGINS, queues=queued(1), outbox={"running": 1}), ATTENTION),
        (TraySnapshot(plugins=OK_PLUGINS, pairing=[(1, "LGC")]), ATTENTION),
        (TraySnapshot(plugins=OK_PLUGINS, outbox={"dead": 1}), ATTENTION),
        (TraySnapshot(plugins=[{"name": "ins", "status": "degraded"}], queues=queued(3)), DEGRADED),
        (TraySnapshot(plugins=OK_PLUGINS, badges=[Badge(2, "Documents à envoyer", attention=True)]), ATTENTION),
        (TraySnapshot(plugins=OK_PLUGINS, badges=[Badge(2, "Envois DMP en file", attention=False)]), READY),
    ],
)
def test_build_tray_icon_state(snapshot: TraySnapshot, state: str) -> None:
    assert build_tray(snapshot).state == state


def test_build_tray_tooltip_counts() -> None:
    model = build_tray(TraySnapshot(plugins=[{"name": "ins", "status": "degraded"}], queues=queued(2),
                                    outbox={"pending": 1, "running": 2, "dead": 1}, pairing=[(4, "LGC")]))
    assert model.tooltip == ("Vigie - Qualifications en attente : 2 · envois : 3 en cours, 1 en échec · "
                             "1 demande d'appairage · un problème à régler (menu)")
    with_badge = build_tray(TraySnapshot(queues=queued(1), badges=[Badge(3, "Envois DMP")])).tooltip
    assert with_badge == "Vigie - Qualifications en attente : 1 · Envois DMP : 3"
    assert build_tray(TraySnapshot(queues=queued(0))).tooltip == "Vigie : rien en attente"


def test_build_tray_tooltip_is_short_and_latin1() -> None:
    plugins = [{"name": f"module-{i}", "status": "degraded"} for i in range(30)]
    badges = [Badge(i + 1, f"Documents du module n° {i} à envoyer…") for i in range(30)]
    tip = build_tray(TraySnapshot(plugins=plugins, badges=badges)).tooltip
    assert len(tip) <= 127 and tip.endswith("...")
    tip.encode("latin-1")  # the X backend writes it as WM_NAME (STRING)


def test_build_tray_menu_ready_outside_sandbox() -> None:
    items = [("Insérer une carte Vitale de test", "sandbox"), ("Lot INS du jour", "main")]
    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, queues=queued(0), items=items))
    assert labels(model.menu) == ["Qualifications en attente (0)", "Saisir un code scanné…",
                                  "Cartes et lecteurs", "Lot INS du jour", "Ouvrir le dossier des journaux",
                                  "Exporter un diagnostic (anonymisé)", "Quitter Vigie"]
    pending = find(model.menu, "Qualifications")
    assert not pending.enabled and not pending.default
    assert find(model.menu, "Saisir").default  # the click action when nothing waits
    assert find(model.menu, "Lot INS").action == ("item", 1)
    assert find(model.menu, "Quitter").action == ("quit",)


def test_build_tray_menu_has_no_queue_without_a_capability() -> None:
    """The host knows no capability: without a registered panel kind, no qualification entry."""
    assert not any("Qualification" in label for label in labels(build_tray(TraySnapshot()).menu))


def test_build_tray_menu_pending_and_pairing() -> None:
    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, queues=queued(3), pairing=[(7, "Mon LGC")]))
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


JARGON = ("Service ", "Module ", "pcsc", "cps_pkcs11", "vitale_reader", " 00 00", "degraded", ": ok")


def test_build_tray_menu_readers_and_services() -> None:
    model = build_tray(TraySnapshot(
        plugins=[{"name": "ins", "status": "degraded", "reason": "INSi ne répond pas : nouvel essai dans 30 s"}],
        readers=[{"name": "Virtual PCD 00 00", "card": "cps"}, {"name": "Virtual PCD 00 01", "card": "vitale"},
                 {"name": "Gemalto USB 00 00", "card": None}],
        services={"insi": {"state": "erreur"}, "pcsc": {"state": "ok"}, "cps_pkcs11": {"state": "ok"}},
        acting_user={"kind": "cps", "name": "Dr Martin", "reader": "Virtual PCD 00 00", "source": "card"}))
    cards = find(model.menu, "Cartes et lecteurs")
    assert labels(cards.children) == ["Lecteur 1 (Virtual PCD) : carte CPS de Dr Martin",
                                      "Lecteur 2 (Virtual PCD) : carte Vitale",
                                      "Lecteur 3 (Gemalto USB) : pas de carte",
                                      "Vous agissez avec la carte CPS de Dr Martin"]
    assert all(e.action is None for e in cards.children)
    waiting = find(model.menu, "En attente")
    assert labels(waiting.children) == ["À régler : INSi ne répond pas : nouvel essai dans 30 s"]
    everything = [e.label for top in model.menu for e in (top, *top.children)]
    assert not [label for label in everything if any(word in label for word in JARGON)]
    empty = labels(find(build_tray(TraySnapshot()).menu, "Cartes").children)
    assert empty == ["Aucun lecteur de cartes branché : branchez-le pour lire Vitale et CPS",
                     "Aucune carte CPS : insérez la vôtre pour que Vigie agisse en votre nom"]


def test_build_tray_menu_says_what_waits_and_why() -> None:
    model = build_tray(TraySnapshot(outbox={"pending": 2, "dead": 1},
                                    badges=[Badge(4, "Recherches INSi en attente", hint="insérez la carte CPS")],
                                    services={"pcsc": {"state": "indisponible"}}))
    assert labels(find(model.menu, "En attente").children) == [
        "Recherches INSi en attente : 4 (insérez la carte CPS)", "2 envois en cours en arrière-plan (rien à faire)",
        "1 envoi en échec : exportez un diagnostic pour le support"]
    assert labels(find(model.menu, "Cartes").children)[0].startswith("Lecture des cartes impossible")


def test_build_tray_menu_says_the_practice_database_is_away_and_what_waits_here() -> None:
    label = "Base du cabinet injoignable : 2 opérations en attente locale sur ce poste"
    model = build_tray(TraySnapshot(services={"store": {"state": "injoignable", "label": label, "spooled": 2}}))
    assert model.state == DEGRADED
    assert labels(find(model.menu, "En attente").children) == [label]
    merging = {"state": "ok", "label": "Base de données : disponible ; report en cours", "spooled": 1}
    assert labels(find(build_tray(TraySnapshot(services={"store": merging})).menu, "En attente").children) == [
        "Base de données : disponible ; report en cours"]
    quiet = build_tray(TraySnapshot(services={"store": {"state": "ok", "label": "Base de données : disponible"}}))
    assert quiet.state == READY and not any(e.label.startswith("Base") for top in quiet.menu for e in top.children)


@pytest.mark.parametrize("state", [READY, WORKING, ATTENTION, DEGRADED])
def test_icon_image_per_state(state: str) -> None:
    image = icon_image(state)
    assert image.size == (64, 64)
    assert image.getpixel((32, 8))[3] == 255  # drawn, opaque where the disc is


@pytest.mark.parametrize("size", [16, 22, 24, 32])
def test_icon_image_drawn_at_the_tray_size(size: int) -> None:
    image = icon_image(READY, size)
    assert image.size == (size, size)
    # The white "V" is there at that size (not a scaled-down 64 px picture): white pixels near the centre.
    whites = [image.getpixel((x, y)) for x in range(size) for y in range(size // 4, size * 3 // 4)]
    assert any(p[:3] == (255, 255, 255) and p[3] == 255 for p in whites)


def test_menu_payload_and_actions() -> None:
    from agent.tray import menu_actions, menu_payload

    model = build_tray(TraySnapshot(plugins=OK_PLUGINS, queues=queued(0), pairing=[(3, "LGC")], sandbox=True,
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
    ui.tray = SimpleNamespace(model=build_tray(TraySnapshot(plugins=OK_PLUGINS, queues=queued(0))))  # type: ignore[assignment]
    ui.tray_actions = SimpleNamespace(run=run)  # type: ignore[assignment]
    ui._on_popup({"op": "menu_action", "action": ["quit"]})
    ui._on_popup({"op": "menu_action", "action": ["item", 99]})  # not in the menu: ignored
    ui._on_popup({"op": "menu_action", "action": ["open", "queue"]})  # disabled (nothing waits): ignored
    await asyncio.sleep(0.05)
    assert ran == [("quit",)]


def test_build_tray_menu_repeats_the_last_notice() -> None:
    model = build_tray(TraySnapshot(notice="Carte CPS de Dr Martin insérée : vous pouvez interroger l'INSi."))
    entry = find(model.menu, "Dernier message")
    assert entry.label == "Dernier message : Carte CPS de Dr Martin insérée : vous pouvez interroger l'INSi."
    assert entry.action is None
