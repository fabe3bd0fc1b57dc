"""The card stand-in of `vigie run --sandbox`: its own pcscd with vpcd slots, and the settings it gives."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox.cards.bench import BenchError, CardBench
from sandbox.cards.pcscd import private_pcscd_supported
from sandbox.cards.service import start_card_sandbox
from sandbox.cards.softhsm import softhsm_missing


@pytest.mark.skipif(private_pcscd_supported() is not None, reason=str(private_pcscd_supported()))
@pytest.mark.skipif(softhsm_missing() is not None, reason=str(softhsm_missing()))
async def test_card_sandbox_runs_its_own_pcscd_and_a_bench_plugs_cards_into_it() -> None:
    service = await start_card_sandbox()
    try:
        settings = service.plugin_settings["cards"]
        assert settings["vitale_reader"] == "apdu"
        socket = Path(settings["pcsc_socket"])
        assert socket.exists()
        # The test CPS card's token, in its own SoftHSM2 store (a visible skip above, never a silent pass).
        slots = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True, timeout=10,
                               env={**os.environ, "SOFTHSM2_CONF": settings["softhsm2_conf"]}).stdout
        assert f"Label:            {settings['pkcs11_token_label']}" in slots
        bench = CardBench(service.plugin_settings["sandbox-cards"]["vpcd_port"])  # the bench plugin's own setting
        assert bench.insert("vitale", "ADRTROIS") == 0  # vpcd accepted the card's connection
        assert bench.insert("unknown") == 1
        with pytest.raises(BenchError, match="déjà une carte"):
            bench.insert("cps")
        assert bench.remove() == [0, 1]
    finally:
        await service.stop()
    assert not socket.exists() or not socket.parent.exists()


def test_card_bench_refuses_unknown_cards() -> None:
    bench = CardBench(1)
    with pytest.raises(BenchError, match="inconnue"):
        bench.insert("vitale", "PERSONNE")
    with pytest.raises(BenchError, match="inconnu"):
        bench.insert("passeport")
