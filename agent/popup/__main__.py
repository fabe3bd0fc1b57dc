"""`python -m agent.popup`: the popup process (started by the agent, never by hand)."""

from __future__ import annotations

import sys

try:
    from agent.popup.app import main
except ModuleNotFoundError as exc:
    if exc.name not in ("tkinter", "_tkinter"):
        raise
    # No Tk in this Python (Debian: package python3-tk): like "no display", nothing to retry soon (code 3).
    print("popup: tkinter is not installed (Debian/Ubuntu: python3-tk); running without the popup",
          file=sys.stderr)
    sys.exit(3)

sys.exit(main())
