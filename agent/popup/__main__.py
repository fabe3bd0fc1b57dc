"""`python -m agent.popup`: the popup process (started by the agent, never by hand)."""

from __future__ import annotations

import sys

from agent.popup.app import main

sys.exit(main())
