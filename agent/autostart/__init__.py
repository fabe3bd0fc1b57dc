"""Start Vigie with the user's session: one small adapter per OS, chosen by `for_platform()`.

- Linux and other freedesktop systems: an XDG autostart entry (`xdg.py`);
- Windows: a value under HKCU\\...\\Run (`windows.py`, winreg behind an injectable port);
- macOS: a LaunchAgent plist with RunAtLoad (`macos.py`).
Each writes only in the user's own space (no administrator rights) and says what it did in French.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AutostartStatus:
    enabled: bool
    where: str  # the file or registry value that decides
    command: str | None = None

    def describe(self) -> str:
        state = "activé" if self.enabled else "désactivé"
        suffix = f" — commande : {self.command}" if self.enabled and self.command else ""
        return f"Démarrage automatique {state} ({self.where}){suffix}"


class Autostart(Protocol):
    def enable(self, command: list[str]) -> AutostartStatus: ...

    def disable(self) -> AutostartStatus: ...

    def status(self) -> AutostartStatus: ...


def launch_command() -> list[str]:
    """How the session should start this Vigie: the frozen executable itself, or this Python's `agent.cli`."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "run"]
    return [sys.executable, "-m", "agent.cli", "run"]


def for_platform(platform: str = sys.platform) -> Autostart:
    if platform == "win32":
        from agent.autostart.windows import WindowsAutostart

        return WindowsAutostart()
    if platform == "darwin":
        from agent.autostart.macos import LaunchAgentAutostart

        return LaunchAgentAutostart()
    from agent.autostart.xdg import XdgAutostart

    return XdgAutostart()


def main(action: str) -> int:
    """`vigie autostart enable|disable|status`."""
    adapter = for_platform()
    if action == "enable":
        result = adapter.enable(launch_command())
    elif action == "disable":
        result = adapter.disable()
    else:
        result = adapter.status()
    print(result.describe())
    return 0
