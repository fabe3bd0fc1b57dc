"""The native popup: a separate process (tkinter, standard library) the agent starts and talks to over
its stdin/stdout in JSON lines. The agent never waits on it and survives its crash (it restarts it).

Agent → popup (`op`):
- `show {identity_id, view, raise}`: queue (or refresh) an identity; `raise` maps the window now.
- `drop {identity_id}`: qualified or gone elsewhere.
- `prompt {kind: "pin"|"pairing", request_id, text}` / `prompt_closed {kind, request_id}`.
- `open {what: "queue"|"scan"}`: the tray asks to show the queue or the scan field.
- `menu {entries}`: the tray's menu (`agent.tray.menu_payload`), where the tray backend shows none.
- `notice {text}`: a short message for the user (result of a tray action).
- `reply {id, result|error}`: the answer to one of the popup's `rpc`.
- `describe {}`: the popup answers `layout` (widget geometry, for tests and benchmarks).
Popup → agent:
- `rpc {id, method, params}`: a local-API call (an allow-list: identity.view, identity.qualify, scan.submit).
- `answer {kind, request_id, value}`: the PIN (never logged) or the pairing consent (true/false).
- `menu_action {action}`: an entry chosen in the `menu` (run only if the current menu offers it).
- `postponed {identity_id}`, `shown {identity_id}` (window mapped), `layout {widgets, ...}`, `ready {}`.
"""

from __future__ import annotations

# Methods the popup may call: everything else is refused by the agent side.
POPUP_METHODS = frozenset({"identity.view", "identity.qualify", "scan.submit"})
