"""Static files the local API serves under `/web/`: `vigie.js` (the browser client) and
`vigie-qualification.js` and `vigie-documents.js` (the `<vigie-qualification>` and `<vigie-documents>` web
components). Browser-based LGCs load them from
the agent so that they always match the agent's protocol version. The agent's own pages (agent/pages.py)
are here too: the start-of-day batch, the journal of qualifications, the settings and the received MSSanté
messages, with their scripts."""

from __future__ import annotations

from pathlib import Path

WEB_ROOT = Path(__file__).parent
# An explicit list, not a directory listing: nothing else in the package is ever served.
FILES = ("vigie.js", "vigie-qualification.js", "vigie-documents.js", "pages.css", "pages.js", "batch.html", "batch.js",
         "journal.html", "journal.js", "setup.html", "setup.js", "messages.html", "messages.js")


def web_file(name: str) -> Path | None:
    return WEB_ROOT / name if name in FILES else None
