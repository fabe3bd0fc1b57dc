"""Once-per-process library settings: set while they can take effect, refused once a library read them."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from hardware.process_env import PCSC_SOCKET, OncePerProcess, SettingFrozen
from sandbox.cards.pcscd import PrivatePcscd
from tests.conftest import PYTHON, subprocess_env


def test_process_env_set_until_a_library_reads_it() -> None:
    environ: dict[str, str] = {}
    env = OncePerProcess(environ)
    env.require(PCSC_SOCKET, "/a/pcscd.comm")
    env.require(PCSC_SOCKET, "/b/pcscd.comm")  # nothing read it yet: the new value takes effect
    assert environ[PCSC_SOCKET] == "/b/pcscd.comm" and not env.frozen(PCSC_SOCKET)
    env.library_reads(PCSC_SOCKET)
    env.library_reads(PCSC_SOCKET)
    env.require(PCSC_SOCKET, "/b/pcscd.comm")  # the value in effect: fine
    with pytest.raises(SettingFrozen) as info:
        env.require(PCSC_SOCKET, "/c/pcscd.comm")
    assert "redémarrez l'agent" in info.value.message_fr and "/b/pcscd.comm" in info.value.message_fr
    assert environ[PCSC_SOCKET] == "/b/pcscd.comm"  # left as the library read it


def test_process_env_unset_when_read_means_the_default_is_kept() -> None:
    env = OncePerProcess({})
    env.library_reads("SOFTHSM2_CONF")
    with pytest.raises(SettingFrozen, match="valeur par défaut"):
        env.require("SOFTHSM2_CONF", "/tmp/softhsm2.conf")


def test_process_env_libpcsclite_keeps_its_first_socket(private_pcscd: PrivatePcscd) -> None:
    # The library behaviour the guard is for, in a fresh process: after one attempt on a dead socket,
    # pointing the variable at a live pcscd changes nothing; a new process reaches it.
    script = textwrap.dedent(f"""
        import os
        from hardware.probe import pcsc_status
        from hardware.process_env import PCSC_SOCKET, PROCESS_ENV, SettingFrozen
        print(pcsc_status().ok)
        try:
            PROCESS_ENV.require(PCSC_SOCKET, {str(private_pcscd.socket_path)!r})
        except SettingFrozen:
            print("frozen")
        os.environ[PCSC_SOCKET] = {str(private_pcscd.socket_path)!r}  # behind the guard's back
        print(pcsc_status().ok)
    """)
    if not private_pcscd.running:
        private_pcscd.start()
    dead = {**subprocess_env(), PCSC_SOCKET: str(private_pcscd.socket_path) + ".absent"}
    out = subprocess.run([PYTHON, "-c", script], env=dead, capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["False", "frozen", "False"], out.stderr
    live = {**subprocess_env(), PCSC_SOCKET: str(private_pcscd.socket_path)}
    out = subprocess.run([PYTHON, "-c", "from hardware.probe import pcsc_status; print(pcsc_status().ok)"],
                         env=live, capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["True"], out.stderr
