"""The popup window: always on top, small (a 1366×768 screen corner), non-modal, French, keyboard-operable.

It shows, in this order of precedence: a pending prompt (PIN of the CPS, pairing consent of an LGC), the
queue of identities to qualify (one at a time, with "n sur m"), and always a focused-on-demand field
for keyboard-wedge scans. It hides itself when nothing is left (a qualification succeeded, the last
identity was postponed). Started by the agent; exits when the agent closes its stdin.
"""

from __future__ import annotations

import itertools
import queue
import sys
import tkinter as tk
from typing import Any

from agent.popup.channel import EOF_MARK, StdioChannel
from agent.popup.panel import BG, Panel

WIDTH = 460
MARGIN_X, MARGIN_Y = 16, 56  # away from the screen edge and a bottom task bar
POLL_MS = 15
TITLE = "Vigie — qualification INS"


class PopupApp:
    def __init__(self, root: tk.Tk, channel: StdioChannel) -> None:
        self.root = root
        self.channel = channel
        self.queue: list[str] = []  # identity ids, in arrival order
        self.views: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self.current = 0
        self.prompts: list[dict[str, Any]] = []
        self.scan_open = False
        self.menu: list[dict[str, Any]] | None = None  # the tray's menu, where the tray backend has none
        self.menu_buttons: dict[str, tk.Widget] = {}
        self._ids = itertools.count(1)
        self._calls: dict[int, Any] = {}
        self._visible = False
        self._focus: Any = None
        root.title(TITLE)
        root.configure(bg=BG, padx=10, pady=8)
        root.attributes("-topmost", True)
        root.resizable(False, False)
        root.protocol("WM_DELETE_WINDOW", self.postpone)
        root.bind("<Escape>", lambda _e: self.postpone())
        root.bind("<Return>", self._on_return)
        root.bind("<KP_Enter>", self._on_return)
        root.bind("<Map>", self._on_map)
        self.header = tk.Frame(root, bg=BG)
        self.header.pack(fill="x")
        self.title = tk.Label(self.header, text="Vigie", font=("TkDefaultFont", 11, "bold"), bg=BG, anchor="w")
        self.title.pack(side="left")
        self.next_button = tk.Button(self.header, text="Suivante ›", command=self.next_identity)
        self.body = tk.Frame(root, bg=BG)
        self.body.pack(fill="both", expand=True)
        self.panel = Panel(self.body, on_qualify=self.qualify, on_postpone=self.postpone)
        self.prompt_frame = tk.Frame(self.body, bg=BG)
        self.scan = tk.Frame(root, bg=BG)
        tk.Label(self.scan, text="Scan Datamatrix INS :", bg=BG).pack(side="left")
        self.scan_entry = tk.Entry(self.scan, width=28)
        self.scan_entry.pack(side="left", fill="x", expand=True)
        self.scan_result = tk.Label(root, text="", bg=BG, wraplength=WIDTH - 20, justify="left", anchor="w")
        self.scan.pack(fill="x", pady=(8, 0))
        self.scan_result.pack(fill="x")
        root.withdraw()
        root.after(POLL_MS, self._poll)
        channel.send("ready")

    # -- channel --------------------------------------------------------------------------------------
    def _poll(self) -> None:
        try:
            while True:
                msg = self.channel.inbox.get_nowait()
                if msg is EOF_MARK:
                    self.root.destroy()
                    return
                self.handle(msg)
        except queue.Empty:
            pass
        if self.channel.broken:
            self.root.destroy()
            return
        self.root.after(POLL_MS, self._poll)

    def call(self, method: str, params: dict[str, Any], done: Any) -> None:
        call_id = next(self._ids)
        self._calls[call_id] = done
        self.channel.send("rpc", id=call_id, method=method, params=params)

    def handle(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "show":
            ident = msg["identity_id"]
            if ident not in self.queue:
                self.queue.append(ident)
            self.views[ident] = msg["view"]
            if msg.get("raise"):
                self.current = self.queue.index(ident)
                self.refresh(show=True)
            else:
                self.refresh()
        elif op == "drop":
            self._drop(msg["identity_id"])
        elif op == "prompt":
            self.prompts = [p for p in self.prompts if p["request_id"] != msg["request_id"] or p["kind"] != msg["kind"]]
            self.prompts.append(msg)
            # The PIN is typed at once; a pairing consent is never given by a stray Enter meant for the LGC.
            self.refresh(show=True, take_focus=msg["kind"] == "pin")
        elif op == "prompt_closed":
            self.prompts = [p for p in self.prompts
                            if not (p["request_id"] == msg["request_id"] and p["kind"] == msg["kind"])]
            self.refresh()
        elif op == "open":
            self.scan_open = msg.get("what") == "scan"
            self.refresh(show=True, take_focus=True)  # the user asked for it (tray)
        elif op == "menu":
            self.menu = msg.get("entries") or []
            self.refresh(show=True, take_focus=True)
        elif op == "reply":
            call_id = msg.get("id")
            done = self._calls.pop(call_id, None) if isinstance(call_id, int) else None
            if done is not None:
                done(msg.get("result"), msg.get("error"))
        elif op == "notice":
            self.scan_result.configure(text=msg.get("text") or "", fg="#1d2733")
            self.scan_open = True
            self.refresh(show=True, take_focus=True)
        elif op == "describe":
            self.channel.send("layout", widgets=self.layout(), texts={
                "title": self.title.cget("text"), "scan_result": self.scan_result.cget("text"),
                "visible": self._visible, "queue": len(self.queue), "prompts": len(self.prompts),
                "focus": self._focused_name()})

    # -- actions -----------------------------------------------------------------------------------
    def _drop(self, ident: str) -> None:
        if ident in self.queue:
            index = self.queue.index(ident)
            self.queue.remove(ident)
            if index < self.current or self.current >= len(self.queue):
                self.current = max(0, self.current - 1)
        self.views.pop(ident, None)
        self.errors.pop(ident, None)
        self.refresh()

    def current_id(self) -> str | None:
        return self.queue[self.current] if self.queue else None

    def qualify(self, method: str, document: str | None) -> None:
        ident = self.current_id()
        if ident is None:
            return
        params: dict[str, Any] = {"identity_id": ident, "method": method}
        if document:
            params["document_type"] = document

        def done(result: Any, error: Any) -> None:
            if error is not None:
                self.errors[ident] = error.get("message") or "Erreur"
                self.call("identity.view", {"identity_id": ident}, lambda v, _e: self._update(ident, v))
            elif result and result.get("status") == "QUAL":
                self._drop(ident)  # success closes it (the window hides when nothing is left)
            else:
                self.call("identity.view", {"identity_id": ident}, lambda v, _e: self._update(ident, v))

        self.call("identity.qualify", params, done)

    def _update(self, ident: str, view: Any) -> None:
        if view is not None and ident in self.queue:
            self.views[ident] = view
        self.refresh()

    def postpone(self) -> None:
        """Esc: cancel the prompt shown, else hide the window; the queue stays (the tray reopens it), the
        next identity comes first next time."""
        if self.prompts:
            prompt = self.prompts[-1]
            self.answer(prompt, None if prompt["kind"] == "pin" else False)
            return
        if self.menu is not None:
            self.menu = None
            self.refresh()
            return
        ident = self.current_id()
        if ident is not None:
            self.channel.send("postponed", identity_id=ident)
            self.current = (self.current + 1) % len(self.queue)
        self.scan_open = False
        self._hide()

    def next_identity(self) -> None:
        if self.queue:
            self.current = (self.current + 1) % len(self.queue)
            self.refresh()

    def answer(self, prompt: dict[str, Any], value: Any) -> None:
        self.channel.send("answer", kind=prompt["kind"], request_id=prompt["request_id"], value=value)
        self.prompts = [p for p in self.prompts if p is not prompt]
        self.refresh()

    def submit_scan(self) -> None:
        data = self.scan_entry.get()
        if not data.strip():
            return
        self.scan_entry.delete(0, "end")

        def done(result: Any, error: Any) -> None:
            if error is not None:
                self.scan_result.configure(text=error.get("message") or "Erreur", fg="#a30000")
            elif result and result.get("identity_id"):
                self.scan_result.configure(text="Datamatrix INS lu : recherche INSi en cours.", fg="#116b2e")
            else:
                self.scan_result.configure(text=f"Code lu ({(result or {}).get('kind', '?')}).", fg="#116b2e")

        self.call("scan.submit", {"data": data, "source": "popup"}, done)

    def _on_return(self, _event: Any) -> str:
        widget = self.root.focus_get()
        if widget is self.scan_entry:
            self.submit_scan()
        elif isinstance(widget, tk.Button) and str(widget.cget("state")) != "disabled":
            widget.invoke()
        elif isinstance(widget, tk.Radiobutton | tk.Entry):
            confirm: Any = self.prompt_ok if self.prompts else self.panel.widgets.get("confirm")
            if confirm is not None and str(confirm.cget("state")) != "disabled":
                confirm.invoke()
        return "break"

    # -- rendering -------------------------------------------------------------------------------------
    prompt_ok: tk.Button | None = None
    pin_entry: tk.Entry | None = None

    def refresh(self, show: bool = False, take_focus: bool = False) -> None:
        """Render what comes first. The window takes the keyboard only when the user asked for it (tray, PIN)
        or already works in it: a panel raised by an INSi answer while the practitioner types in the LGC
        must not catch an Enter meant for the LGC."""
        had_focus = self._focused_name() is not None
        self.panel.pack_forget()
        self.prompt_frame.pack_forget()
        self.next_button.pack_forget()
        focus: Any = None
        if self.prompts:
            focus = self._render_prompt(self.prompts[-1])
            self.title.configure(text="Vigie")
        elif self.menu is not None:
            focus = self._render_menu(self.menu)
            self.title.configure(text="Vigie — menu")
        elif self.queue:
            ident = self.queue[self.current]
            self.panel.render(self.views[ident], self.errors.get(ident))
            self.panel.pack(fill="both", expand=True)
            self.title.configure(text=f"Identité à qualifier {self.current + 1} sur {len(self.queue)}")
            if len(self.queue) > 1:
                self.next_button.pack(side="right")
            focus = self.panel.first_focus()
        else:
            self.title.configure(text="Vigie — scan Datamatrix INS")
            focus = self.scan_entry
        wanted = bool(self.prompts or self.queue or self.scan_open or self.menu is not None)
        if wanted and (show or self._visible):
            self._focus = (self.scan_entry if self.scan_open else focus) if take_focus or had_focus else None
            self._show()
            if self._focus is not None:
                self._focus.focus_force()  # a window just deiconified gets it again once mapped (_on_map)
        elif not wanted:
            self._hide()

    def _render_prompt(self, prompt: dict[str, Any]) -> tk.Widget:
        for child in self.prompt_frame.winfo_children():
            child.destroy()
        self.prompt_frame.pack(fill="both", expand=True)
        tk.Label(self.prompt_frame, text=prompt["text"], wraplength=WIDTH - 20, justify="left", bg=BG,
                 anchor="w").pack(fill="x", pady=(4, 4))
        buttons = tk.Frame(self.prompt_frame, bg=BG)
        if prompt["kind"] == "pin":
            entry = tk.Entry(self.prompt_frame, show="•", width=12)
            self.pin_entry = entry
            entry.pack(anchor="w")
            buttons.pack(fill="x", pady=(6, 0))
            self.prompt_ok = tk.Button(buttons, text="Valider", command=lambda: self.answer(prompt, entry.get()))
            self.prompt_ok.pack(side="left")
            tk.Button(buttons, text="Annuler", command=lambda: self.answer(prompt, None)).pack(side="left", padx=6)
            return entry
        buttons.pack(fill="x", pady=(6, 0))
        self.prompt_ok = tk.Button(buttons, text="Autoriser", command=lambda: self.answer(prompt, True))
        self.prompt_ok.pack(side="left")
        tk.Button(buttons, text="Refuser", command=lambda: self.answer(prompt, False)).pack(side="left", padx=6)
        return self.prompt_ok

    def _render_menu(self, entries: list[dict[str, Any]]) -> tk.Widget | None:
        for child in self.prompt_frame.winfo_children():
            child.destroy()
        self.prompt_frame.pack(fill="both", expand=True)
        self.menu_buttons = {}
        first: tk.Widget | None = None

        def add(entry: dict[str, Any], indent: int) -> None:
            nonlocal first
            if entry.get("children"):
                tk.Label(self.prompt_frame, text=entry["label"], bg=BG, anchor="w",
                         font=("TkDefaultFont", 9, "bold")).pack(fill="x", padx=(indent, 0), pady=(4, 0))
                for child in entry["children"]:
                    add(child, indent + 14)
            elif entry.get("action") is None:
                tk.Label(self.prompt_frame, text=entry["label"], bg=BG, fg="#5a6a7a", anchor="w").pack(
                    fill="x", padx=(indent, 0))
            else:
                action = entry["action"]
                button = tk.Button(self.prompt_frame, text=entry["label"], anchor="w",
                                   state="normal" if entry.get("enabled", True) else "disabled",
                                   command=lambda: self._menu_choose(action))
                button.pack(fill="x", padx=(indent, 0), pady=1)
                self.menu_buttons[entry["label"]] = button
                if first is None and entry.get("enabled", True):
                    first = button

        for entry in entries:
            add(entry, 0)
        return first

    def _menu_choose(self, action: list[Any]) -> None:
        self.menu = None
        self.channel.send("menu_action", action=action)
        self.refresh()

    def _show(self) -> None:
        root = self.root
        root.update_idletasks()
        height = root.winfo_reqheight()
        x = root.winfo_screenwidth() - WIDTH - MARGIN_X
        y = max(0, root.winfo_screenheight() - height - MARGIN_Y)
        root.geometry(f"{WIDTH}x{height}+{x}+{y}")
        if not self._visible:
            root.deiconify()
            root.lift()
            self._visible = True

    def _hide(self) -> None:
        if self._visible:
            self.root.withdraw()
            self._visible = False

    def _on_map(self, event: Any) -> None:
        if event.widget is self.root:
            # X refuses the input focus to an unmapped window: give it now that the window is on screen.
            if self._focus is not None and self._focus.winfo_exists():
                self._focus.focus_force()
            # Told once Tk has been through its event loop, which flushes the focus request to the X server:
            # keys typed after "shown" reach the focused widget.
            ident = self.current_id()
            self.root.after(1, lambda: self.channel.send("shown", identity_id=ident))

    def _focused_name(self) -> str | None:
        try:
            widget = self.root.focus_get()
        except (KeyError, tk.TclError):  # the focused widget was just destroyed (re-render): we had it
            return "other"
        if widget is None:
            return None
        named = {**self.panel.widgets, "scan": self.scan_entry, "pin": self.pin_entry, "prompt_ok": self.prompt_ok}
        return next((name for name, w in named.items() if w is widget), "other")

    def layout(self) -> dict[str, list[int]]:
        """Screen geometry of the named widgets (x, y, width, height), for tests and benchmarks."""
        self.root.update_idletasks()
        named: dict[str, tk.Widget] = {**self.panel.widgets, "scan": self.scan_entry,
                                       **{f"menu:{label}": w for label, w in self.menu_buttons.items()}}
        if self.pin_entry is not None and self.pin_entry.winfo_exists():
            named["pin"] = self.pin_entry
        if self.prompt_ok is not None and self.prompt_ok.winfo_exists():
            named["prompt_ok"] = self.prompt_ok
        out = {"window": [self.root.winfo_rootx(), self.root.winfo_rooty(), self.root.winfo_width(),
                          self.root.winfo_height()]}
        for name, w in named.items():
            if w.winfo_exists() and w.winfo_ismapped():
                out[name] = [w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height()]
        return out


def main() -> int:
    try:
        root = tk.Tk(className="Vigie")
    except tk.TclError as exc:  # no display: the agent logs our stderr and stays headless
        print(f"popup: no display ({exc})", file=sys.stderr)
        return 3
    channel = StdioChannel()
    PopupApp(root, channel)
    root.mainloop()
    return 0
