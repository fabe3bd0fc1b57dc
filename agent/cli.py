"""`vigie` command line. Every subcommand has a help text meant for a newcomer.

`run` starts the agent. Commands acting on a running agent go through the local API (`agent.client`).
Plugins add subcommands through `register_cli_commands`.

The sandbox (`vigie run --sandbox`, `vigie sandbox ...`) is an extension, not part of the host: its
plugins (`sandbox/`) are installed from the entry-point group `vigie.sandbox` only when one of its
commands is asked for, so `vigie --help` and a production `vigie run` never import them, and a build
without `sandbox/` simply has no sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent import __version__, cli_fr
from agent.config import Config, load_config
from agent.errors import ConfigError, RegistrationError, UserFacingError
from agent.hookcall import call_registration
from agent.logging import setup_logging
from agent.plugins import PluginHost

EPILOG = """Premiers pas : `vigie run --sandbox` démarre l'agent sur des services nationaux simulés.
Configuration : fichier TOML (voir `vigie doctor`), surchargeable par des variables VIGIE_SECTION_CLE."""


BUILTIN_COMMANDS = ("run", "doctor", "version", "plugins", "selftest", "autostart", "setup")
SANDBOX_GROUP = "vigie.sandbox"  # entry points of the sandbox extension (pyproject.toml; sandbox/plugins.py)
GROUP_HELP = {"sandbox": "piloter le bac à sable (cartes et lecteurs virtuels, scanner simulé)",
              "prescription": "ordonnances (e-prescription)"}


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FICHIER",
                   help="fichier de configuration TOML (défaut : dossier de configuration de l'utilisateur)")


def build_parser(plugin_commands: dict[str, tuple[str, Callable[..., None], Callable[..., int]]], *,
                 sandbox_available: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigie", description="Vigie : agent INS, DMP, MSSanté et e-prescription à côté de votre logiciel.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")

    run = sub.add_parser("run", help="démarrer l'agent",
                         description="Démarre l'agent (icône de notification, API locale, modules).")
    run.add_argument("--sandbox", action="store_true",
                     help="démarrer aussi les services nationaux simulés et une page LGC de démonstration")
    run.add_argument("--headless", action="store_true", help="sans icône de notification (serveur, CI)")
    run.add_argument("--port", type=int, metavar="N", help="port de l'API locale (défaut 8743)")
    _add_config(run)

    doctor = sub.add_parser("doctor", help="vérifier l'installation (configuration, base, port, lecteurs...)")
    _add_config(doctor)
    sub.add_parser("version", help="afficher la version")
    selftest = sub.add_parser("selftest", help="auto-test du programme (modules, fenêtre, cartes, trousseau)",
                              description="Vérifie que ce programme fonctionne sur ce poste, sans service "
                                          "national : code de sortie non nul et raisons en cas d'échec.")
    _add_config(selftest)
    autostart = sub.add_parser("autostart", help="démarrer Vigie avec la session (activer, désactiver, état)",
                               description="Démarrage automatique à l'ouverture de session : entrée XDG (Linux), "
                                           "clé Run (Windows), LaunchAgent (macOS), pour cet utilisateur.")
    autostart.add_argument("action", choices=("enable", "disable", "status"), nargs="?", default="status",
                           help="enable : activer, disable : désactiver, status : état (défaut)")
    setup = sub.add_parser("setup", help="configurer Vigie pour le cabinet (certificat, INSi, logiciels autorisés...)",
                           description="Pose les questions de chaque module, vérifie chaque réponse, écrit le fichier "
                                       "de configuration (secrets dans le trousseau), puis lance « vigie doctor ».")
    setup.add_argument("--etape", action="append", metavar="ID", dest="steps",
                       help="seulement cette étape (api, ins, eprescription...) ; répétable")
    _add_config(setup)
    plugins = sub.add_parser("plugins", help="lister les modules et leur état")
    _add_config(plugins)

    # A two-word name ("sandbox card") is a subcommand of a group ("vigie sandbox card ..."), so several
    # plugins can share a group without owning it.
    groups: dict[str, Any] = {}
    for name, (help_text, configure, _run) in sorted(plugin_commands.items()):
        group, _, leaf = name.partition(" ")
        if leaf:
            if group not in groups:
                gp = sub.add_parser(group, help=GROUP_HELP.get(group, f"commandes « {group} »"))
                groups[group] = gp.add_subparsers(dest=f"{group}_command", metavar="SOUS-COMMANDE")
            p = groups[group].add_parser(leaf, help=help_text)
        else:
            p = sub.add_parser(name, help=help_text)
        _add_config(p)
        configure(p)
    if sandbox_available and "sandbox" not in groups:
        # Listed in the help without importing the sandbox: `vigie sandbox ...` installs it (main()).
        sub.add_parser("sandbox", help=GROUP_HELP["sandbox"])
    return parser


def _collect_plugin_commands(host: PluginHost) -> dict[str, tuple[str, Callable[..., None], Callable[..., int]]]:
    commands: dict[str, tuple[str, Callable[..., None], Callable[..., int]]] = {}

    def make_register(plugin: str) -> Callable[..., None]:
        def register(name: str, help: str, configure: Callable[..., None], run: Callable[..., int]) -> None:
            if _clashes(name, commands):
                raise RegistrationError(f"CLI command {name!r} registered twice (plugin {plugin})")
            commands[name] = (help, configure, run)

        return register

    call_registration(host, "register_cli_commands", make_register)
    return commands


def cmd_run(args: argparse.Namespace, plugin_commands: dict[str, Any]) -> int:
    if args.sandbox:  # `vigie run --sandbox` is `vigie sandbox run`, the sandbox's own command
        if "sandbox run" not in plugin_commands:
            raise UserFacingError("Le bac à sable n'est pas installé avec cette version de Vigie (dossier sandbox/ "
                                  "absent ou installation à refaire : « make install »).")
        run: Callable[[argparse.Namespace], int] = plugin_commands["sandbox run"][2]
        return run(args)
    config = load_config(args.config)
    if args.port is not None:
        config.api.port = args.port
    return run_agent(config, headless=args.headless)


def run_agent(config: Config, *, headless: bool, host: PluginHost | None = None) -> int:
    """Run an agent until SIGINT/SIGTERM; `host` may come with extra plugins (the sandbox's agent)."""
    from agent.app import Agent

    setup_logging(config.log.level, config.log.dir, console=config.log.console)
    if headless:  # no popup, no tray (servers, CI); without a display the ui plugin does the same by itself
        config.plugins.setdefault("ui", {}).update({"popup": False, "tray": False})

    def announce(agent: Agent) -> None:
        print(f"Vigie {__version__} à l'écoute sur {agent.server.url} (Ctrl-C pour arrêter)", flush=True)

    asyncio.run(Agent(config, host=host).run(on_started=announce))
    return 0


def cmd_plugins(args: argparse.Namespace, host: PluginHost) -> int:
    from agent.client import client_for

    rows: list[dict[str, Any]]
    client = client_for(args.config)
    if client.health() is not None:
        rows = client.call("agent.info")["plugins"]
        origin = f"agent en marche ({client.url})"
    else:
        rows = [{**s.as_dict(), "status": "arrêté" if s.status == "starting" else s.status}
                for s in host.states.values()]
        origin = "agent arrêté : modules installés"
    print(origin)
    if not rows:
        print("(aucun module)")
    for r in rows:
        print(f"  {r['name']:<16} {r['version']:<10} {r['status']:<9} {r.get('reason') or ''}".rstrip())
    return 0


def _clashes(name: str, commands: dict[str, Any]) -> bool:
    """A name taken, a built-in, more than two words, or a group name also used as a plain command."""
    words = name.split(" ")
    groups = {c.split(" ")[0] for c in commands if " " in c}
    plain = {c for c in commands if " " not in c}
    return (name in commands or words[0] in BUILTIN_COMMANDS or len(words) > 2
            or (len(words) == 2 and words[0] in plain) or (len(words) == 1 and name in groups))


def _wants_sandbox(argv: Sequence[str]) -> bool:
    return bool(argv) and (argv[0] == "sandbox" or (argv[0] == "run" and "--sandbox" in argv))


def main(argv: Sequence[str] | None = None) -> int:
    cli_fr.install()  # argparse's own texts ("usage:", "options", errors) in French
    argv = list(sys.argv[1:] if argv is None else argv)
    host = PluginHost()
    try:
        # Plugins are loaded only to learn their CLI commands; nothing starts here.
        disabled = _disabled_plugins(argv)
        host.load(disabled)
        if _wants_sandbox(argv):
            host.load_extensions(SANDBOX_GROUP, disabled)
        plugin_commands = _collect_plugin_commands(host)
    except RegistrationError as exc:
        print(f"Erreur de module : {exc}", file=sys.stderr)
        return 2
    parser = build_parser(plugin_commands,
                          sandbox_available=bool(importlib.metadata.entry_points(group=SANDBOX_GROUP)))
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args, plugin_commands)
        if args.command == "doctor":
            from agent import doctor

            return doctor.main(args.config)
        if args.command == "selftest":
            from agent import selftest

            return selftest.main(args.config)
        if args.command == "setup":
            from agent import setup_cli

            return setup_cli.main(args.config, args.steps, host=host)
        if args.command == "autostart":
            from agent import autostart

            return autostart.main(args.action)
        if args.command == "version":
            print(f"vigie {__version__}")
            return 0
        if args.command == "plugins":
            return cmd_plugins(args, host)
        # Only a group has a leaf: a plain plugin command may use `<name>_command` for its own actions (`ins`).
        is_group = any(c.startswith(f"{args.command} ") for c in plugin_commands) if args.command else False
        leaf = getattr(args, f"{args.command}_command", None) if is_group else None
        full = f"{args.command} {leaf}" if leaf else args.command
        if full in plugin_commands:
            return plugin_commands[full][2](args)
        parser.print_help()
        return 0
    except ConfigError as exc:
        print(f"Configuration invalide — {exc.key} : {exc.message_fr}\n"
              f"Invalid configuration — {exc.key}: {exc.message_en}", file=sys.stderr)
        return 2
    except UserFacingError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _disabled_plugins(argv: Sequence[str] | None) -> list[str]:
    """`disabled_plugins` of the configuration the command will use (errors are reported later)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path)
    known, _ = pre.parse_known_args(argv)
    try:
        return load_config(known.config).disabled_plugins
    except ConfigError:
        return []


if __name__ == "__main__":
    sys.exit(main())
