"""The native popup: a separate process (tkinter, standard library) the agent starts and talks to over
its stdin/stdout in JSON lines. The agent never waits on it and survives its crash (it restarts it).

Agent → popup (`op`):
- `show {key, kind, renderer, title, view, raise}`: queue (or refresh) a panel a capability contributed
  (`register_ui_panels`); `renderer` is the `module:Class` that draws it, `raise` maps the window now.
- `drop {key}`: done, or gone elsewhere.
- `prompt {kind: "pin"|"pairing", request_id, text}` / `prompt_closed {kind, request_id}`.
- `open {what: "queue"|"scan"}`: the tray asks to show the queue or the scan field.
- `menu {entries}`: the tray's menu (`agent.tray.menu_payload`), where the tray backend shows none.
- `notice {text, level, focus}`: a short non-modal message (a card inserted, a tray action's result);
  `level` is info|ok|warning|error; `focus` only when the user asked for it (a tray action).
- `reply {id, result|error}`: the answer to one of the popup's `rpc`.
- `describe {}`: the popup answers `layout` (widget geometry, for tests and benchmarks).
Popup → agent:
- `rpc {id, method, params}`: a local-API call (an allow-list: `scan.submit` for the scan field, plus the
  `methods` each panel kind registered).
- `answer {kind, request_id, value}`: the PIN (never logged) or the pairing consent (true/false).
- `menu_action {action}`: an entry chosen in the `menu` (run only if the current menu offers it).
- `postponed {key}`, `shown {key}` (window mapped), `layout {widgets, ...}`, `ready {}`.

A renderer is built once per popup as `Class(master, host)` (a tkinter widget) and is asked to
`render(view)`; it offers `widgets` (name → widget, for tests), `first_focus()` and `default_button()`.
`host` gives it `call(method, params, done(result, error))`, `update(key, view)`, `done(key, notice)`
(finished: out of the queue, the notice says what was done) and `postpone()`.
"""

from __future__ import annotations

# Methods the popup itself may call (its scan field); panels add theirs: everything else is refused.
HOST_METHODS = frozenset({"scan.submit"})
