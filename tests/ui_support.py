"""Helpers for the UI tests (web component, popup, tray): artifacts, an agent on the INSi sandbox with
a demo page, Xvfb displays. Real peers only: the INSi sandbox over TLS, Chromium, Xvfb, trayer."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.rpc import RpcContext
from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CTX = RpcContext("tests", frozenset({"lgc", "admin"}), "ws", 0)


def artifact(request: pytest.FixtureRequest, suffix: str) -> Path:
    """A path under test-artifacts/ named after the running test (kept for humans, gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return ARTIFACTS / f"{name}-{suffix}"


# The screenshot walk of the main flows, in the order a user meets them (docs/ui.md): file-name prefixes of
# the tests that take them, with the caption `test-artifacts/index.html` gives each.
WALK = [
    ("test_panel_every_label_is_french_found", "Web : identité trouvée, traits identiques"),
    ("test_panel_one_message_per_state_and_relaunch", "Web : plusieurs identités, un seul message, relance"),
    ("test_panel_every_label_is_french_none", "Web : aucune identité trouvée"),
    ("test_panel_readable_values", "Web : date lunaire, lieu de naissance, sexe lisibles"),
    ("test_panel_attestation_shows_what_insi_changes_then_qualified-before",
     "Web : ce que l'INSi change, avant le clic"),
    ("test_panel_attestation_shows_what_insi_changes_then_qualified-after", "Web : identité qualifiée"),
    ("test_panel_shows_former_ins", "Web : ancien INS (INSHISTO)"),
    ("test_popup_click_attestation_qualifies", "Popup : identité à qualifier"),
    ("test_popup_panel_is_french_and_nothing_is_clipped_several", "Popup : plusieurs identités"),
    ("test_popup_one_geometry_for_every_item", "Popup : file de deux identités, même géométrie"),
    ("test_popup_scan_error_wraps_unclipped", "Popup : erreur de scan, texte complet"),
    ("test_popup_says_identity_qualified_then_closes", "Popup : message après qualification"),
    ("test_popup_hardware_notice_is_non_modal", "Popup : carte CPS insérée (message non modal)"),
    ("test_tray_without_a_tray_host_says_it_once_then_docks_quietly", "Zone de notification : icône à sa taille"),
]


def write_walk_index() -> Path | None:
    """`test-artifacts/index.html`: the walk's screenshots present after this run, in WALK order."""
    if not ARTIFACTS.is_dir():
        return None
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    rows = []
    for prefix, caption in WALK:
        for name in (n for n in shots if n.startswith(prefix)):
            rows.append(f'<figure><figcaption>{caption}</figcaption><img src="{name}" alt="{caption}"></figure>')
    if not rows:
        return None
    page = ARTIFACTS / "index.html"
    page.write_text("<!doctype html><meta charset=utf-8><title>Vigie : parcours des écrans</title>"
                    "<style>img{max-width:100%;border:1px solid #ccc}figure{margin:1rem 0}</style>"
                    "<h1>Vigie : parcours des écrans (make test)</h1>" + "".join(rows), encoding="utf-8")
    return page


async def rpc(agent: Agent, method: str, **params: Any) -> Any:
    """Call the agent's RPC registry in-process; raises AssertionError on a JSON-RPC error."""
    response = await agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, CTX)
    assert response is not None and isinstance(response, dict)
    if "error" in response:
        raise AssertionError(f"{method}: {response['error']}")
    return response["result"]


# Words of the English the view models' keys and values are made of: none may reach a rendered panel.
ENGLISH = {"birth", "name", "names", "first", "sex", "place", "used", "status", "pending", "found", "several",
           "unknown", "null", "undefined", "true", "false", "none", "error", "field", "local", "equal",
           "different", "outcome", "timeout", "identity", "scan", "queue"}


def english_words(text: str) -> set[str]:
    """English words (or snake_case keys) in a rendered text: what the "French only" tests refuse."""
    return {w for w in re.findall(r"[A-Za-z_]+", text) if w.lower() in ENGLISH or "_" in w}


def require_binary(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"missing binaries: {', '.join(missing)} (installed by .ci/run)")


@contextlib.contextmanager
def xvfb(size: str = "1366x768x24") -> Iterator[str]:
    """A private Xvfb display (`:N`), parallel-safe: Xvfb picks a free number itself (`-displayfd`)."""
    require_binary("Xvfb")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                raise RuntimeError("Xvfb did not start")
            number += chunk
        display = f":{int(number)}"
        while not _x_ready(display):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Xvfb did not answer")
            time.sleep(0.05)
        yield display
    finally:
        os.close(read_fd)
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


def _x_ready(display: str) -> bool:
    result = subprocess.run(["xdpyinfo", "-display", display], capture_output=True, check=False)
    return result.returncode == 0


def x_env(display: str) -> dict[str, str]:
    return {**os.environ, "DISPLAY": display}


@contextlib.contextmanager
def trayer(display: str) -> Iterator[None]:
    """Debian's `trayer`, a system-tray host (XEmbed) pystray's X backend docks into."""
    require_binary("trayer", "xwininfo")
    proc = subprocess.Popen(["trayer", "--edge", "bottom", "--align", "right", "--widthtype", "request",
                             "--height", "32", "--SetDockType", "false"], env=x_env(display),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _tray_owned(display):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("trayer did not start")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _tray_owned(display: str) -> bool:
    """The tray host owns the `_NET_SYSTEM_TRAY_S<screen>` selection (what docking looks for)."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
        return bool(d.get_selection_owner(atom))
    finally:
        d.close()


def x_tree(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree"], env=x_env(display), capture_output=True, text=True,
                          check=False, timeout=10).stdout


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium: the system's (Debian's), driven by Playwright; no browser download."""
    require_binary(CHROMIUM)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()
