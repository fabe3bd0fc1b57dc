"""The sandbox's plugins, and how they get into a host: only when the sandbox runs.

Each local stand-in of a national service is a plugin of its own, `sandbox/<service>/plugin.py`, listed
in `SANDBOX_PLUGINS`. `install(host)` adds the sandbox's hookspecs (`sandbox/hookspecs.py`) and registers
them; it is the `vigie.sandbox` entry point (pyproject.toml), which `vigie` calls only for `vigie run
--sandbox` and `vigie sandbox ...`, and the sandbox's agent process (`sandbox/child.py`) calls it too.
Product code never imports this package: a production agent has none of these plugins, hooks, RPC
methods or commands, and a frozen build can leave `sandbox/` out.

Adding a stand-in (say `dmp`):
1. the server: `sandbox/dmp/server.py`, with `as_service()` returning a `SandboxService`
   (sandbox/supervisor.py): endpoints, `plugin_settings` for the product plugin (`{"dmp": {...}}`) and for
   its own sandbox plugin (`{"sandbox-dmp": {...}}`), `secrets` for the agent's keyring, `stop`;
2. the plugin: `sandbox/dmp/plugin.py`, a class whose `register_sandbox_services` starts the server
   (imported inside `start()`: the CLI loads every sandbox plugin for its help), plus whatever the demo
   needs in the agent: `sandbox.dmp_*` RPC methods, tray entries of section `sandbox`, `sandbox dmp ...`
   CLI commands;
3. one line below: `"sandbox-dmp": "sandbox.dmp.plugin:DmpSandboxPlugin"`.
The product plugin (`plugins/dmp/`) knows nothing of it: it reads its endpoint and settings from the
configuration and its secrets from the keyring, exactly as in a practice.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable

from agent.plugins import PluginHost
from sandbox import hookspecs

ENTRY_POINT_GROUP = "vigie.sandbox"  # agent.cli.SANDBOX_GROUP
# name -> "module:attr"; names start with "sandbox" so they never clash with a product plugin's.
SANDBOX_PLUGINS: dict[str, str] = {
    "sandbox": "sandbox.plugin:SandboxPlugin",  # the supervisor itself: `vigie sandbox run`, `sandbox.info`
    "sandbox-insi": "sandbox.insi.plugin:InsiSandboxPlugin",
    "sandbox-cards": "sandbox.cards.plugin:CardsSandboxPlugin",
    "sandbox-scanner": "sandbox.scanner.plugin:ScannerSandboxPlugin",
    "sandbox-eprescription": "sandbox.eprescription.plugin:EprescriptionSandboxPlugin",
    "sandbox-dmp": "sandbox.dmp.plugin:DmpSandboxPlugin",
    "sandbox-mss": "sandbox.mss.plugin:MssSandboxPlugin",
}


def install(host: PluginHost, disabled: Iterable[str] = ()) -> None:
    """Add the sandbox's hookspecs to `host` and register its plugins (idempotent)."""
    host.add_hookspecs(hookspecs)
    todo = {name: ref for name, ref in SANDBOX_PLUGINS.items() if name not in host.states}
    host.register_references(todo, disabled, source="sandbox")


def install_all(host: PluginHost, disabled: Iterable[str] = ()) -> None:
    """`install`, then any other extension of the `vigie.sandbox` group (a third-party stand-in)."""
    disabled = list(disabled)
    install(host, disabled)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value != f"{__name__}:install":
            ep.load()(host, disabled)
    host.pm.check_pending()
