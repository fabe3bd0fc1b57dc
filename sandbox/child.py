"""The sandbox's agent process: `python -m sandbox.child --config PROFILE [--headless]`.

The supervisor runs it instead of `vigie run`: the same agent (`agent.cli.run_agent`, every product
plugin, the profile as configuration), plus the sandbox's plugins (`sandbox.plugins.install_all`), and
with the stand-ins' secrets put into the agent's (throwaway, in-memory) keyring before it starts, where a
practice's installer puts real ones. The secrets file is read once and deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from agent.cli import run_agent
from agent.config import load_config
from agent.errors import ConfigError, UserFacingError
from agent.plugins import PluginHost
from agent.secrets import SecretStore
from sandbox.plugins import install_all


def seed_keyring(path: Path) -> None:
    """Put the secrets the supervisor left in `path` (name -> value) into the keyring, then delete it."""
    if not path.exists():
        return
    try:
        secrets: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    finally:
        path.unlink()
    store = SecretStore()
    for name, value in secrets.items():
        store.set(name, value)


def exit_with_parent(parent: int, interval: float = 1.0) -> threading.Thread:
    """Stop this agent (SIGTERM, the usual clean stop) once the supervisor that started it is gone.

    A supervisor killed with SIGKILL (a test timeout, a crashed terminal) cannot stop its child; an orphaned
    sandbox agent would keep its virtual serial scanner's pty path open and reopen it every few seconds, so
    the next sandbox's emulator, handed the same /dev/pts number, would lose scans to it. The parent's pid
    changes when it dies (the orphan is re-parented), on Linux and macOS alike.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="vigie-sandbox-parent-watch", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.child")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--secrets", type=Path)
    parser.add_argument("--headless", action="store_true")
    args = parser.parse_args(argv)
    if sys.platform != "win32":
        exit_with_parent(os.getppid())
    try:
        config = load_config(args.config)
        if args.secrets is not None:
            seed_keyring(args.secrets)
        host = PluginHost()
        install_all(host, config.disabled_plugins)
        return run_agent(config, headless=args.headless, host=host)
    except ConfigError as exc:
        print(f"Configuration invalide — {exc.key} : {exc.message_fr}", file=sys.stderr)
        return 2
    except UserFacingError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
