"""Windows: a `Vigie` value under HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.

The registry sits behind `RegistryPort` so the adapter is tested on any OS by what it writes; `WinregRunKey`
is the real port (winreg, Windows only, imported when used).
"""

from __future__ import annotations

import importlib
import subprocess
from typing import Any, Protocol

from agent.autostart import AutostartStatus

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "Vigie"


class RegistryPort(Protocol):
    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


def _winreg() -> Any:
    # Any: typeshed declares winreg for win32 only, and this module is type-checked on Linux.
    return importlib.import_module("winreg")


class WinregRunKey:
    """The current user's Run key (no administrator rights needed)."""

    def get(self, name: str) -> str | None:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return str(value)

    def set(self, name: str, value: str) -> None:
        winreg = _winreg()
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

    def delete(self, name: str) -> None:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            pass  # already absent: disabling twice is not an error


class WindowsAutostart:
    def __init__(self, registry: RegistryPort | None = None) -> None:
        self.registry = registry or WinregRunKey()

    @property
    def where(self) -> str:
        return f"HKCU\\{RUN_KEY}\\{VALUE_NAME}"

    def enable(self, command: list[str]) -> AutostartStatus:
        # The Run value is one command line: list2cmdline applies the MS C runtime quoting rules.
        self.registry.set(VALUE_NAME, subprocess.list2cmdline(command))
        return self.status()

    def disable(self) -> AutostartStatus:
        self.registry.delete(VALUE_NAME)
        return self.status()

    def status(self) -> AutostartStatus:
        value = self.registry.get(VALUE_NAME)
        return AutostartStatus(value is not None, self.where, value)
