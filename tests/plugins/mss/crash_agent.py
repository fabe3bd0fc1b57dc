"""A real agent process for the kill -9 test: `python -m tests.plugins.mss.crash_agent CONFIG DOC|-`.

Starts an agent on CONFIG (TOML; the PKCS#12 passphrase comes from $VIGIE_TEST_P12_PASS into the
in-memory keyring), publishes the document JSON file DOC when given, then runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from agent.app import Agent
from agent.config import load_config
from agent.documents import ValidatedDocument, publish
from agent.secrets import SecretStore


async def main(config_path: str, doc_path: str) -> None:
    SecretStore().set("mss.pkcs12", os.environ["VIGIE_TEST_P12_PASS"])
    agent = Agent(load_config(Path(config_path)))
    await agent.start()
    if doc_path != "-":
        await publish(agent, ValidatedDocument.from_payload(json.loads(Path(doc_path).read_text())))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
