"""`setup.*` methods (scope `admin`): the settings page (agent/web/setup.html) drives the set-up steps.

The same steps as `vigie setup` (agent/setup_steps.py), applied to the running agent's configuration file;
the changes take effect at the agent's next start (said to the user). Verification and saving read files,
the keyring and the network: they run in a thread, never on the loop. A secret's value is never sent
back: a secret field's default is always empty.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agent.config import default_config_path
from agent.logging import declare_personal_fields
from agent.rpc import RpcContext, RpcRegistry
from agent.setup_steps import SetupSession, collect_steps

if TYPE_CHECKING:
    from agent.app import Agent

declare_personal_fields({"values"})  # answers hold the practitioner's name and RPPS, and passphrases

_VALUES = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 4096}, "maxProperties": 64}
_STEP = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$"}


def register_setup_methods(rpc: RpcRegistry, agent: Agent) -> None:
    session: SetupSession | None = None

    def current() -> SetupSession:
        nonlocal session
        if session is None:
            session = SetupSession(agent.config.source or default_config_path(), collect_steps(agent.plugins),
                                   agent.secrets)
        return session

    async def steps(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        s = current()
        config = await asyncio.to_thread(s.config)
        return {"config_file": str(s.path), "steps": [
            {"id": step.id, "title": step.title, "intro": step.intro,
             "fields": [f.as_dict() for f in step.fields(config)]} for step in s.steps.values()]}

    async def verify(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        problems = await asyncio.to_thread(current().check, params["step"], params["values"])
        return {"step": params["step"], "problems": problems}

    async def save(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        s = current()
        problems = await asyncio.to_thread(s.save, params["step"], params["values"])
        return {"step": params["step"], "saved": not problems, "problems": problems, "config_file": str(s.path)}

    by_step = {"type": "object", "required": ["step", "values"], "additionalProperties": False,
               "properties": {"step": _STEP, "values": _VALUES}}
    rpc.register("setup.steps", steps, params={"type": "object", "additionalProperties": False}, scope="admin",
                 description="The set-up steps plugins contributed, their fields and current values (no secret).")
    rpc.register("setup.verify", verify, params=by_step, scope="admin",
                 description="Check one step's answers (certificate, endpoint...): French problems.")
    rpc.register("setup.save", save, params=by_step, scope="admin",
                 description="Verify then save one step: configuration file (0600) and keyring.")
