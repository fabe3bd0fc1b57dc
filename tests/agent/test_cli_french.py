"""Issue 19 item 8: `vigie --help` is French throughout, argparse's own texts included, and names only
commands that exist; argparse's errors are French too."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, subprocess_env

# argparse's English texts (Python 3.11-3.13) that must never show.
ENGLISH = ("usage:", "positional arguments", "optional arguments", "show this help message", "show program's",
           "error:", "the following arguments are required", "invalid choice", "unrecognized arguments",
           "PRINTER")


def _vigie(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env=subprocess_env(home), timeout=60)


def _commands(help_text: str) -> list[str]:
    """The subcommands a help screen lists (the indented names under its COMMANDE/ACTION heading)."""
    block = re.search(r"^arguments:\n(.*?)(?:\n\n|\Z)", help_text, re.S | re.M)
    if not block:
        return []
    return re.findall(r"^    (\S+)", block.group(1), re.M)


def test_every_help_screen_is_french_and_names_existing_commands(isolated_home: Path) -> None:
    top = _vigie(isolated_home, "--help")
    assert top.returncode == 0, top.stderr
    screens = {"vigie": top.stdout}
    tree: dict[str, list[str]] = {"": _commands(top.stdout)}
    assert {"run", "doctor", "version", "plugins", "ins", "prescription", "sandbox", "scan"} <= set(tree[""])
    for command in tree[""]:
        out = _vigie(isolated_home, command, "--help")
        assert out.returncode == 0, (command, out.stderr)
        screens[f"vigie {command}"] = out.stdout
        tree[command] = _commands(out.stdout)
        for leaf in tree[command]:
            sub = _vigie(isolated_home, command, leaf, "--help")
            assert sub.returncode == 0, (command, leaf, sub.stderr)
            screens[f"vigie {command} {leaf}"] = sub.stdout
    for name, text in screens.items():
        assert text.startswith("utilisation : "), (name, text[:80])
        assert "afficher cette aide et quitter" in text, name
        for english in ENGLISH:
            assert english not in text, (name, english)
        # Every `vigie X [Y]` a help text mentions is a command that exists.
        for mention in re.findall(r"`?vigie ([a-z-]+)(?: ([a-z-]+))?", text):
            first, second = mention
            assert first in tree[""], (name, mention)
            if tree.get(first) and second and not second.startswith("-"):
                assert second in tree[first], (name, mention)


def test_argparse_errors_are_french(isolated_home: Path) -> None:
    unknown = _vigie(isolated_home, "inconnue")
    assert unknown.returncode == 2
    assert "vigie : erreur : argument COMMANDE : choix invalide : 'inconnue'" in unknown.stderr
    missing = _vigie(isolated_home, "ins")
    assert "argument(s) obligatoire(s) manquant(s) : ACTION" in missing.stderr
    extra = _vigie(isolated_home, "version", "--bavard")
    assert "argument(s) non reconnu(s) : --bavard" in extra.stderr
    for run in (unknown, missing, extra):
        assert run.stderr.startswith("utilisation : ")
        for english in ENGLISH:
            assert english not in run.stderr, english
