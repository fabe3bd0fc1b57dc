"""The agent's own pages (`/web/batch.html`, `/web/journal.html`, `/web/setup.html`), opened in the browser
from the tray.

They are served by the local API like `vigie.js` and follow its rules: the agent's own origin
(`http://127.0.0.1:<port>`, `http://localhost:<port>`) is an allowed origin, and a page needs a token.
The tray opens a page with its token in the URL fragment (`#jeton=...`: a fragment is never sent to a
server, and the page removes it from the address bar and the history at once, keeping the token in its
origin's localStorage). One token serves all the agent's pages: issued once (scopes `lgc` and `admin`,
the journal is an administrative read), kept in the keyring, re-issued only when it no longer
authenticates (revoked, new profile). Without a keyring a new token is issued at each opening.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.errors import UserFacingError

if TYPE_CHECKING:
    from agent.client_registry import ClientRegistry
    from agent.secrets import SecretStore

log = logging.getLogger(__name__)

PAGES = ("batch.html", "journal.html", "setup.html", "messages.html")
CLIENT_NAME = "Pages de Vigie"
SECRET = "pages.token"


def open_in_browser(url: str) -> bool:
    """The desktop's browser; False without a graphical session (Linux: webbrowser would fall back to a
    console browser and wait for it to exit)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    return webbrowser.open(url, new=2)


class Pages:
    def __init__(self, *, clients: ClientRegistry, secrets: SecretStore, base_url: Callable[[], str],
                 opener: Callable[[str], bool] = open_in_browser) -> None:
        self._clients = clients
        self._secrets = secrets
        self._base_url = base_url
        self.opener = opener  # replaceable: tests record the URL instead of starting a desktop browser

    async def _token(self) -> str:
        try:
            token = await asyncio.to_thread(self._secrets.get, SECRET)  # a keyring may talk D-Bus: not on the loop
        except Exception as exc:
            log.warning("keyring unreadable for the pages' token: %s", type(exc).__name__)
            token = None
        if token and await self._clients.authenticate(token) is not None:
            return token
        token = await self._clients.issue(CLIENT_NAME, self._base_url(), scopes=("lgc", "admin"))
        try:
            await asyncio.to_thread(self._secrets.set, SECRET, token)
        except Exception as exc:  # no keyring: this opening works, the next one issues another token
            log.warning("keyring refused the pages' token: %s", type(exc).__name__)
        return token

    async def url(self, page: str) -> str:
        if page not in PAGES:
            raise ValueError(f"unknown agent page {page!r}")
        return f"{self._base_url()}/web/{page}#jeton={await self._token()}"

    async def open(self, page: str) -> str:
        """Open `page` in the default browser; the URL (for a notice saying where it is) is returned."""
        url = await self.url(page)
        opened = await asyncio.to_thread(self.opener, url)
        if not opened:
            raise UserFacingError(f"Aucun navigateur n'a pu être ouvert : ouvrez {url.split('#')[0]} depuis l'icône "
                                  "Vigie sur un poste avec un navigateur.")
        return url
