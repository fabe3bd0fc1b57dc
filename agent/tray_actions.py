"""What the tray's menu entries do, on the agent's loop. Opening a folder is the only OS-specific part."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError

if TYPE_CHECKING:
    from agent.app import Agent

log = logging.getLogger(__name__)


def open_folder(path: Path) -> None:
    """Show a folder in the desktop's file manager (returns at once)."""
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    try:
        subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError as exc:  # no desktop integration (xdg-utils missing): say where the folder is
        raise UserFacingError(f"Impossible d'ouvrir le dossier ; il se trouve ici : {path}") from exc


class TrayActions:
    def __init__(self, agent: Agent, *, notify: Callable[[str], None], open_popup: Callable[[str], None],
                 open_menu: Callable[[], None]) -> None:
        self.agent = agent
        self.notify, self.open_popup, self.open_menu = notify, open_popup, open_menu

    async def run(self, action: tuple[Any, ...]) -> None:
        try:
            await self._run(action)
        except UserFacingError as exc:
            self.notify(exc.message)
        except Exception as exc:
            log.error("tray action %s failed: %s", action[0], type(exc).__name__, exc_info=True)
            self.notify("L'action a échoué ; le détail est dans le journal.")

    async def _run(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        if kind == "open":
            self.open_popup(action[1])
        elif kind == "menu":
            self.open_menu()
        elif kind == "pairing":
            self.agent.pairing.decide(int(action[1]), bool(action[2]))
        elif kind == "item":
            await self.agent.tray_items[int(action[1])].action()
        elif kind == "logs":
            await asyncio.to_thread(open_folder, Path(self.agent.config.log.dir))
        elif kind == "diagnostic":
            from agent.diagnostic import write_diagnostic

            info = await self.agent.info()
            target = Path(self.agent.config.log.dir).parent / "diagnostics"
            path = await asyncio.to_thread(write_diagnostic, self.agent.config, info, target)
            self.notify(f"Diagnostic exporté : {path}")
            await asyncio.to_thread(open_folder, target)
        elif kind == "quit":
            self.agent.request_stop()
