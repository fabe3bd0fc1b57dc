"""Hook implementations that capability plugins write the same way, once (a mixin for their plugin class).

`StoredPluginHooks` gives `register_migrations` from the class's `REPOSITORY` (a module with `NAMESPACE`
and `MIGRATIONS`) and `register_setup_steps` from `SETUP_STEP` (`"module:ATTRIBUTE"`, imported only when
the hook runs: only `vigie setup` and the settings page need a step's form code). Pluggy finds the
inherited hookimpls like the class's own.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from agent.hookspecs import hookimpl


class StoredPluginHooks:
    REPOSITORY: ModuleType
    SETUP_STEP: str | None = None

    @hookimpl
    def register_migrations(self, register: Any) -> None:
        for version, sql in self.REPOSITORY.MIGRATIONS.items():
            register(self.REPOSITORY.NAMESPACE, version, sql)

    @hookimpl
    def register_setup_steps(self, register: Any) -> None:
        if self.SETUP_STEP:
            module, _, name = self.SETUP_STEP.partition(":")
            register(getattr(importlib.import_module(module), name))
