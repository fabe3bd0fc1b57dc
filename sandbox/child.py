"""The sandbox's agent process: `python -m sandbox.child --config PROFILE [--headless]`.

The supervisor runs it instead of `vigie run`: the same agent (`agent.cli.run_agent`, every product
plugin, the profile as configuration), plus the sandbox's plugins (`sandbox.plugins.install_all`), and
with the stand-ins' secrets put into the agent's (throwaway, in-memory) keyring before it starts, where a
practice's installer puts real ones. The secrets file is read once and deleted. The stand-ins' PKCS#12
files are imported into that keyring too (`--import-certificate`), so the agent reads its certificates
from the keyring as a practice's does.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
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


def import_certificates(pairs: Sequence[str]) -> None:
    """`name=path`: the stand-in PKI's PKCS#12 files into the keyring (chunked), as `vigie setup` imports a
    practice's; the agent then reads them through `keyring:<name>` like a practice's agent does."""
    store = SecretStore()
    for pair in pairs:
        name, _, path = pair.partition("=")
        store.set_blob(name, Path(path).read_bytes())


def stop_when_orphaned(interval: float = 0.5) -> None:
    """SIGTERM ourselves (the agent's orderly stop) once the supervisor is gone (killed -9, crashed).

    A leftover agent keeps its devices: its serial scanner reopens its configured /dev/pts/N every few
    seconds, and once a later sandbox's emulator is given that recycled pty it reads that sandbox's frames.
    POSIX only: an orphan is re-parented there, so its parent pid changes; Windows has no such signal.
    """
    if sys.platform == "win32":
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="vigie-sandbox-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.child")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--secrets", type=Path)
    parser.add_argument("--import-certificate", action="append", default=[], metavar="NAME=PKCS12")
    parser.add_argument("--headless", action="store_true")
    args = parser.parse_args(argv)
    stop_when_orphaned()
    try:
        config = load_config(args.config)
        if args.secrets is not None:
            seed_keyring(args.secrets)
        import_certificates(args.import_certificate)
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
