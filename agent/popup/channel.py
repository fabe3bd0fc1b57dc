"""The popup side of the stdio channel: a reader thread feeding a queue the Tk loop drains, and a
writer the Tk thread uses. stdout carries only protocol lines; anything else goes to stderr."""

from __future__ import annotations

import json
import queue
import sys
import threading
from typing import Any, TextIO

EOF_MARK: dict[str, Any] = {"op": "__eof__"}


class StdioChannel:
    def __init__(self, inp: TextIO | None = None, out: TextIO | None = None) -> None:
        self._in = inp or sys.stdin
        self._out = out or sys.stdout
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self.broken = False
        threading.Thread(target=self._read, name="popup-stdin", daemon=True).start()

    def _read(self) -> None:
        for line in self._in:
            try:
                msg = json.loads(line)
            except ValueError:
                print("popup: unreadable line from the agent ignored", file=sys.stderr)
                continue
            if isinstance(msg, dict):
                self.inbox.put(msg)
        self.inbox.put(EOF_MARK)  # the agent closed our stdin (it stops, or it has gone)

    def send(self, op: str, **fields: Any) -> None:
        line = json.dumps({"op": op, **fields}, ensure_ascii=False)
        with self._lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.broken = True
