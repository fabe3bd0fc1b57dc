"""Stop a stand-in (or the whole sandbox) on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM on the running loop. Windows has no loop signal handlers: there
    Ctrl-C raises KeyboardInterrupt, which the callers' `asyncio.run` wrappers turn into a clean exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
