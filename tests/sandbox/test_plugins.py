"""The sandbox's plugins get into a host only through `sandbox.plugins.install` (the `vigie.sandbox` entry point)."""

from __future__ import annotations

import argparse
import importlib.metadata

import pytest

from agent.cli import SANDBOX_GROUP, _collect_plugin_commands, cmd_run
from agent.errors import RegistrationError, UserFacingError
from agent.plugins import PluginHost
from sandbox.insi.plugin import InsiSandboxPlugin
from sandbox.plugins import SANDBOX_PLUGINS, install


def test_sandbox_install_adds_its_hooks_and_plugins_once() -> None:
    host = PluginHost()
    assert getattr(host.hook, "register_sandbox_services", None) is None  # a production host: no such hook
    install(host)
    install(host)  # idempotent: the CLI and the child may both ask
    assert host.hook.register_sandbox_services.has_spec()
    assert {n: s.source for n, s in host.states.items()} == dict.fromkeys(SANDBOX_PLUGINS, "sandbox")
    started: list[str] = []
    host.hook.register_sandbox_services(register=lambda name, start: started.append(name))
    assert sorted(started) == ["dmp", "eprescription", "insi", "mss", "pcsc", "scanner"]  # one stand-in per service


def test_sandbox_plugin_refused_by_a_host_without_the_sandbox() -> None:
    with pytest.raises(RegistrationError, match="unknown hook 'register_sandbox_services'"):
        PluginHost().register(InsiSandboxPlugin(), "sandbox-insi")


def test_sandbox_entry_point_is_the_install_function() -> None:
    entries = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=SANDBOX_GROUP)}
    assert entries.get("sandbox") == "sandbox.plugins:install"  # pyproject.toml (`make install` refreshes it)
    host = PluginHost()
    host.load()
    assert host.load_extensions(SANDBOX_GROUP) is True
    commands = _collect_plugin_commands(host)
    assert {"sandbox run", "sandbox card", "sandbox scan"} <= set(commands)


def test_sandbox_run_without_the_sandbox_installed_says_so_in_french() -> None:
    args = argparse.Namespace(sandbox=True, config=None, port=None, headless=True)
    with pytest.raises(UserFacingError, match="^Le bac à sable n'est pas installé"):
        cmd_run(args, {})
