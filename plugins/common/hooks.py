"""Hook implementations that capability plugins write the same way, once (a mixin for their plugin class).

`StoredPluginHooks` gives `register_migrations` from the class's `REPOSITORY` (a module with `NAMESPACE`
and `MIGRATIONS`), `register_setup_steps` from `SETUP_STEP` and `register_doctor_checks` from `DOCTOR`
(`"module:ATTRIBUTE"`, imported only when the hook runs: only `vigie setup`, the settings page and
`vigie doctor` need that code). Pluggy finds the inherited hookimpls like the class's own.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from agent.hookspecs import hookimpl


class StoredPluginHooks:
    REPOSITORY: ModuleType
    SETUP_STEP: str | None = None
    DOCTOR: str | None = None

    @hookimpl
    def register_migrations(self, register: Any) -> None:
        for version, sql in self.REPOSITORY.MIGRATIONS.items():
            register(self.REPOSITORY.NAMESPACE, version, sql)

    @hookimpl
    def register_setup_steps(self, register: Any) -> None:
        _register_lazy(register, self.SETUP_STEP)

    @hookimpl
    def register_doctor_checks(self, register: Any) -> None:
        _register_lazy(register, self.DOCTOR)


def _register_lazy(register: Any, reference: str | None) -> None:
    if reference:
        module, _, name = reference.partition(":")
        register(getattr(importlib.import_module(module), name))
