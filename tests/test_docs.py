"""Documentation kept in step with the code: every hook and every local-API method is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from agent import hookspecs
from agent.app import Agent
from agent.config import Config
from agent.rpc import documented_methods
from sandbox import hookspecs as sandbox_hookspecs
from tests.conftest import sandbox_host

DOCS = Path(__file__).resolve().parent.parent / "docs"


SPEC_MODULES = (hookspecs, sandbox_hookspecs)  # the host's hooks, and the sandbox's own (added by it)


def hookspec_names() -> set[str]:
    return {
        name for module in SPEC_MODULES for name, fn in inspect.getmembers(module, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def documented_hooks() -> set[str]:
    return set(re.findall(r"^## ([a-z_]+)\s*$", (DOCS / "plugin_hooks.md").read_text(), flags=re.M))


def test_docs_every_hook_is_documented() -> None:
    specs = hookspec_names()
    assert "register_rpc_methods" in specs and "pairing_policy" in specs  # the parser sees the specs
    assert "register_sandbox_services" in specs
    missing = specs - documented_hooks()
    assert not missing, f"hooks missing from docs/plugin_hooks.md: {sorted(missing)}"


def test_docs_no_documented_hook_that_does_not_exist() -> None:
    assert documented_hooks() - hookspec_names() == set()


def spec_function(name: str) -> Any:
    return getattr(hookspecs, name, None) or getattr(sandbox_hookspecs, name)


def test_docs_every_hookspec_is_typed_and_documented_in_code() -> None:
    for name in hookspec_names():
        fn = spec_function(name)
        assert fn.__doc__, name
        assert "return" in fn.__annotations__, name


def test_docs_every_hookspec_documents_its_parameters_pytest_style() -> None:
    for name in hookspec_names():
        fn = spec_function(name)
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in fn.__doc__, f"{name}: no ':param {param}:' line"
        firstresult = getattr(fn, f"{hookspecs.PROJECT}_spec")["firstresult"]
        assert ("Stops at first non-None result" in fn.__doc__) == firstresult, name


async def test_docs_every_registered_rpc_method_is_in_local_api_md(agent_config: Config) -> None:
    # The agent with every built-in plugin (DEFAULT_PLUGINS) and the host's own methods.
    agent = Agent(agent_config)
    await agent.start()
    try:
        registered = set(agent.rpc.names()) | {"session.open", "pairing.request"}
    finally:
        await agent.stop()
    assert "agent.info" in registered
    missing = registered - documented_methods(DOCS / "local-api.md")
    assert not missing, f"methods missing from docs/local-api.md: {sorted(missing)}"


async def test_docs_every_sandbox_rpc_method_is_in_local_api_md(agent_config: Config) -> None:
    # The sandbox's agent: the built-in plugins plus the sandbox's (sandbox/plugins.py).
    agent = Agent(agent_config, host=sandbox_host())
    await agent.start()
    try:
        sandbox_methods = {n for n in agent.rpc.names() if n.startswith("sandbox.")}
    finally:
        await agent.stop()
    assert {"sandbox.card_insert", "sandbox.info", "sandbox.eprescription_mode"} <= sandbox_methods
    missing = sandbox_methods - documented_methods(DOCS / "local-api.md")
    assert not missing, f"methods missing from docs/local-api.md: {sorted(missing)}"


def test_docs_architecture_names_every_plugin_folder() -> None:
    # docs/architecture.md is the one-page map: a capability folder it does not name makes it untrue.
    text = (DOCS / "architecture.md").read_text()
    plugins = DOCS.parent / "plugins"
    folders = sorted(p.name for p in plugins.iterdir() if (p / "__init__.py").exists())
    assert "common" in folders and "ins" in folders
    missing = [name for name in folders if f"`{name}`" not in text]
    assert not missing, f"plugin folders missing from docs/architecture.md: {missing}"
