"""XDG autostart (freedesktop "Desktop Application Autostart Specification" 0.5): GNOME, KDE, XFCE...

The user's entry `$XDG_CONFIG_HOME/autostart/vigie.desktop` wins over a system one of the same name
(`$XDG_CONFIG_DIRS/autostart`, e.g. /etc/xdg/autostart from the Debian package). Disabling while a
system entry exists writes a user entry with `Hidden=true`, the spec's way to mask it.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from agent.autostart import AutostartStatus

ENTRY = "vigie.desktop"
_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def exec_line(argv: list[str]) -> str:
    """Quote per the Desktop Entry spec: reserved characters inside double quotes, `"` `` ` `` `$` `\\` escaped,
    and `%` doubled (field codes)."""
    out = []
    for arg in argv:
        arg = arg.replace("%", "%%")
        if arg and not (set(arg) & _RESERVED):
            out.append(arg)
            continue
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        out.append(f'"{escaped}"')
    return " ".join(out)


def parse_exec(line: str) -> list[str]:
    """The reverse of `exec_line`, as a session manager reads the key (spec's quoting rules)."""
    args: list[str] = []
    current: list[str] = []
    started = quoted = escape = False
    for c in line:
        if quoted and escape:
            current.append(c)
            escape = False
        elif quoted and c == "\\":
            escape = True
        elif c == '"':
            quoted, started = not quoted, True
        elif c in " \t" and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(c)
            started = True
    if started:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


class XdgAutostart:
    def __init__(self, config_home: Path | None = None, config_dirs: list[Path] | None = None) -> None:
        env_home = os.environ.get("XDG_CONFIG_HOME")
        self.config_home = config_home or (Path(env_home) if env_home else Path.home() / ".config")
        dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        self.config_dirs = config_dirs if config_dirs is not None else [Path(d) for d in dirs.split(":") if d]

    @property
    def user_entry(self) -> Path:
        return self.config_home / "autostart" / ENTRY

    def system_entries(self) -> list[Path]:
        return [p for p in (d / "autostart" / ENTRY for d in self.config_dirs) if p.is_file()]

    def enable(self, command: list[str]) -> AutostartStatus:
        self._write({"Type": "Application", "Name": "Vigie",
                     "Comment": "Agent Vigie au démarrage de la session (désactiver : vigie autostart disable)",
                     "Exec": exec_line(command), "Terminal": "false", "NoDisplay": "true",
                     "X-GNOME-Autostart-enabled": "true"})
        return self.status()

    def disable(self) -> AutostartStatus:
        if self.system_entries():
            self._write({"Type": "Application", "Name": "Vigie", "Hidden": "true"})
        elif self.user_entry.exists():
            self.user_entry.unlink()
        return self.status()

    def status(self) -> AutostartStatus:
        for path in [self.user_entry, *self.system_entries()]:
            if not path.is_file():
                continue
            entry = self._read(path)
            hidden = entry.get("Hidden", "false").lower() == "true"
            off = entry.get("X-GNOME-Autostart-enabled", "true").lower() == "false"
            return AutostartStatus(not (hidden or off), str(path), entry.get("Exec"))
        return AutostartStatus(False, str(self.user_entry))

    def _write(self, fields: dict[str, str]) -> None:
        self.user_entry.parent.mkdir(parents=True, exist_ok=True)
        body = "[Desktop Entry]\n" + "".join(f"{k}={v}\n" for k, v in fields.items())
        tmp = self.user_entry.with_suffix(".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(self.user_entry)  # a session starting now reads the old entry or the new one, never half

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
        parser.read(path, encoding="utf-8")
        return dict(parser["Desktop Entry"]) if parser.has_section("Desktop Entry") else {}
