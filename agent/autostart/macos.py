"""macOS: a LaunchAgent `~/Library/LaunchAgents/fr.vigie.agent.plist` with RunAtLoad.

launchd reads it at the next login; nothing is loaded now (`launchctl bootstrap gui/$UID <plist>` would,
see installer/README.md: not verified on a Mac).
"""

from __future__ import annotations

import plistlib
from pathlib import Path

from agent.autostart import AutostartStatus

LABEL = "fr.vigie.agent"


class LaunchAgentAutostart:
    def __init__(self, home: Path | None = None) -> None:
        self.path = (home or Path.home()) / "Library" / "LaunchAgents" / f"{LABEL}.plist"

    def enable(self, command: list[str]) -> AutostartStatus:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plist = {"Label": LABEL, "ProgramArguments": list(command), "RunAtLoad": True,
                 "KeepAlive": False, "ProcessType": "Interactive"}
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            plistlib.dump(plist, fh)
        tmp.replace(self.path)
        return self.status()

    def disable(self) -> AutostartStatus:
        self.path.unlink(missing_ok=True)
        return self.status()

    def status(self) -> AutostartStatus:
        if not self.path.is_file():
            return AutostartStatus(False, str(self.path))
        with self.path.open("rb") as fh:
            plist = plistlib.load(fh)
        args = plist.get("ProgramArguments") or []
        return AutostartStatus(bool(plist.get("RunAtLoad")), str(self.path), " ".join(map(str, args)))
