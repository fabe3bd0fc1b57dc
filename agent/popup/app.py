"""The popup window: always on top, small (a 1366×768 screen corner), non-modal, French, keyboard-operable.

It shows, in this order of precedence: a pending prompt (PIN of the CPS, pairing consent of an LGC), the
queue of panels the capabilities contributed (one at a time, with "n sur m", each drawn by the renderer its
plugin named: `register_ui_panels`), and always a focused-on-demand field for keyboard-wedge scans; short
notices (a card inserted, a tray action's result) show on top without taking the keyboard. It hides itself
when nothing is left. Started by the agent; exits when the agent closes its stdin.
"""

from __future__ import annotations

import itertools
import queue
import sys
import time
import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk
from typing import Any

from agent.panels import load_renderer
from agent.popup.channel import EOF_MARK, StdioChannel

BG = "#ffffff"
WIDTH = 470
# A panel always gets the same window (position and size): "Suivante" stays under the pointer from one
# item to the next, and a long one wraps instead of growing the window off the screen.
PANEL_HEIGHT = 700
MARGIN_X, MARGIN_Y = 16, 56  # away from the screen edge and a bottom task bar
POLL_MS = 15
TITLE = "Vigie"
NOTICE_SECONDS = 6.0  # how long a notice keeps an otherwise empty window up
LEVEL_FG = {"info": "#1d2733", "ok": "#116b2e", "warning": "#8a4b00", "error": "#a30000"}


class PopupApp:
    def __init__(self, root: tk.Tk, channel: StdioChannel) -> None:
        self.root = root
        self.channel = channel
        self.queue: list[str] = []  # panel keys, in arrival order
        self.items: dict[str, dict[str, Any]] = {}  # key -> the `show` message (kind, renderer, title, view)
        self.renderers: dict[str, Any] = {}  # renderer spec -> instance (built on first use)
        self.current = 0
        self.prompts: list[dict[str, Any]] = []
        self.scan_open = False
        self.menu: list[dict[str, Any]] | None = None  # the tray's menu, where the tray backend has none
        self.menu_buttons: dict[str, tk.Widget] = {}
        self._ids = itertools.count(1)
        self._calls: dict[int, Any] = {}
        self._visible = False
        self._focus: Any = None
        self._notice_until = 0.0
        self._notice_job: Any = None
        self._panel: Any = None  # the renderer shown now
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
        self.next_button = tk.Button(self.header, text="Suivante ›", command=self.next_item)
        self.notice = tk.Label(root, text="", bg="#eef6ff", wraplength=WIDTH - 30, justify="left", anchor="w",
                               padx=6, pady=4)
        # The scan field sits at the bottom, whatever the panel's length (pack order: bottom first).
        self.scan_result = tk.Label(root, text="", bg=BG, wraplength=WIDTH - 30, justify="left", anchor="w")
        self.scan_result.pack(side="bottom", fill="x")
        self.scan = tk.Frame(root, bg=BG)
        self.scan.pack(side="bottom", fill="x", pady=(8, 0))
        tk.Label(self.scan, text="Code scanné (douchette) :", bg=BG).pack(side="left")
        self.scan_entry = tk.Entry(self.scan, width=26)
        self.scan_entry.pack(side="left", fill="x", expand=True)
        self.body = tk.Frame(root, bg=BG)
        self.body.pack(fill="both", expand=True)
        self.prompt_frame = tk.Frame(self.body, bg=BG)
        # Always one slave in the body: Tk's packer keeps a master's last size when its last slave goes, so
        # the window would stay panel-high after the last panel left.
        tk.Frame(self.body, height=1, bg=BG).pack(side="bottom")
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
        """A local-API call for a renderer (the agent allows only its panel kind's `methods`)."""
        call_id = next(self._ids)
        self._calls[call_id] = done
        self.channel.send("rpc", id=call_id, method=method, params=params)

    def handle(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "show":
            key = msg["key"]
            if key not in self.queue:
                self.queue.append(key)
            self.items[key] = msg
            if msg.get("raise"):
                self.current = self.queue.index(key)
                self.refresh(show=True)
            else:
                self.refresh()
        elif op == "drop":
            self._drop(msg["key"])
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
            self.show_notice(str(msg.get("text") or ""), str(msg.get("level") or "info"),
                             take_focus=bool(msg.get("focus")))
        elif op == "describe":
            self.channel.send("layout", widgets=self.layout(), texts={
                "title": self.title.cget("text"), "scan_result": self.scan_result.cget("text"),
                "notice": self.notice.cget("text") if self.notice.winfo_ismapped() else "",
                "visible": self._visible, "queue": len(self.queue), "prompts": len(self.prompts),
                "focus": self._focused_name(), "all_text": self.all_text(), "overflow": self.overflowing(),
                "colours": self.colours()})

    # -- what renderers call (the `host` they are built with) ----------------------------------------
    def update(self, key: str, view: dict[str, Any]) -> None:
        if key in self.items:
            self.items[key] = {**self.items[key], "view": view}
        self.refresh()

    def done(self, key: str, text: str) -> None:
        """The item is finished (e.g. qualified): out of the queue, and a notice says what was done."""
        self._drop(key)
        self.show_notice(text, "ok")

    def show_notice(self, text: str, level: str = "info", take_focus: bool = False) -> None:
        """A short non-modal message on top of whatever is shown; it keeps an otherwise empty window up for
        NOTICE_SECONDS. It takes the keyboard only when the user asked for it (a tray action)."""
        self.notice.configure(text=text, fg=LEVEL_FG.get(level, LEVEL_FG["info"]))
        self._notice_until = time.monotonic() + NOTICE_SECONDS
        if self._notice_job is not None:
            self.root.after_cancel(self._notice_job)
        self._notice_job = self.root.after(int(NOTICE_SECONDS * 1000) + 50, self._notice_expired)
        self.refresh(show=True, take_focus=take_focus)

    def _notice_expired(self) -> None:
        self._notice_job = None
        self.refresh()

    def _notice_active(self) -> bool:
        return bool(self.notice.cget("text")) and time.monotonic() < self._notice_until

    # -- actions -----------------------------------------------------------------------------------
    def _drop(self, key: str) -> None:
        if key in self.queue:
            index = self.queue.index(key)
            self.queue.remove(key)
            if index < self.current or self.current >= len(self.queue):
                self.current = max(0, self.current - 1)
        self.items.pop(key, None)
        self.refresh()

    def current_id(self) -> str | None:
        return self.queue[self.current] if self.queue else None

    def postpone(self) -> None:
        """Esc: cancel the prompt shown, else hide the window; the queue stays (the tray reopens it), the
        next item comes first next time."""
        if self.prompts:
            prompt = self.prompts[-1]
            self.answer(prompt, None if prompt["kind"] == "pin" else False)
            return
        if self.menu is not None:
            self.menu = None
            self.refresh()
            return
        key = self.current_id()
        if key is not None:
            self.channel.send("postponed", key=key)
            self.current = (self.current + 1) % len(self.queue)
        self.scan_open = False
        self._notice_until = 0.0
        self._hide()

    def next_item(self) -> None:
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
            elif result and result.get("message"):
                self.scan_result.configure(text=result["message"], fg="#1d2733")  # what the capability says
            else:
                self.scan_result.configure(text="Code lu.", fg="#116b2e")
            self.refresh()

        self.call("scan.submit", {"data": data, "source": "popup"}, done)

    def _on_return(self, _event: Any) -> str:
        widget = self.root.focus_get()
        if widget is self.scan_entry:
            self.submit_scan()
        elif isinstance(widget, tk.Button) and str(widget.cget("state")) != "disabled":
            widget.invoke()
        elif isinstance(widget, tk.Radiobutton | tk.Entry):
            confirm: Any = self.prompt_ok if self.prompts else (
                self._panel.default_button() if self._panel is not None else None)
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
        if self._panel is not None:
            self._panel.pack_forget()
        self._panel = None
        self.prompt_frame.pack_forget()
        self.next_button.pack_forget()
        if self._notice_active():
            self.notice.pack(fill="x", pady=(4, 0), before=self.body)
        else:
            self.notice.pack_forget()
        focus: Any = None
        fixed = False
        if self.prompts:
            focus = self._render_prompt(self.prompts[-1])
            self.title.configure(text="Vigie")
        elif self.menu is not None:
            focus = self._render_menu(self.menu)
            self.title.configure(text="Vigie — menu")
        elif self.queue:
            item = self.items[self.queue[self.current]]
            panel = self._renderer(item)
            panel.render(item["view"])
            panel.pack(fill="both", expand=True)
            self._panel = panel
            self.title.configure(text=f"{item.get('title') or 'À traiter'} {self.current + 1} sur {len(self.queue)}")
            if len(self.queue) > 1:
                self.next_button.pack(side="right")
            focus = panel.first_focus()
            fixed = True
        else:
            self.title.configure(text="Vigie — saisie d'un code scanné" if self.scan_open else "Vigie")
            focus = self.scan_entry
        wanted = bool(self.prompts or self.queue or self.scan_open or self.menu is not None or self._notice_active())
        if wanted and (show or self._visible):
            self._focus = (self.scan_entry if self.scan_open else focus) if take_focus or had_focus else None
            self._show(fixed)
            if self._focus is not None:
                self._focus.focus_force()  # a window just deiconified gets it again once mapped (_on_map)
        elif not wanted:
            self._hide()

    def _renderer(self, item: dict[str, Any]) -> Any:
        spec = str(item.get("renderer"))
        if spec not in self.renderers:
            self.renderers[spec] = load_renderer(spec)(self.body, self)
        return self.renderers[spec]

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
                # Informative lines say whole sentences ("Lecteur 1 (…) : carte CPS de …"): wrapped.
                tk.Label(self.prompt_frame, text=entry["label"], bg=BG, fg="#5a6a7a", anchor="w", justify="left",
                         wraplength=WIDTH - 40 - indent).pack(fill="x", padx=(indent, 0))
            else:
                action = entry["action"]
                button = tk.Button(self.prompt_frame, text=entry["label"], anchor="w", justify="left",
                                   wraplength=WIDTH - 50 - indent,
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

    def _show(self, fixed: bool = False) -> None:
        root = self.root
        root.update_idletasks()
        height = PANEL_HEIGHT if fixed else root.winfo_reqheight()
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
            key = self.current_id()
            self.root.after(1, lambda: self.channel.send("shown", key=key))

    def _focused_name(self) -> str | None:
        try:
            widget = self.root.focus_get()
        except (KeyError, tk.TclError):  # the focused widget was just destroyed (re-render): we had it
            return "other"
        if widget is None:
            return None
        named = {**self._panel_widgets(), "scan": self.scan_entry, "pin": self.pin_entry, "prompt_ok": self.prompt_ok}
        return next((name for name, w in named.items() if w is widget), "other")

    def _shown_widgets(self) -> list[Any]:
        out: list[Any] = []

        def walk(w: Any) -> None:
            if w.winfo_ismapped():
                out.append(w)
                for child in w.winfo_children():
                    walk(child)

        walk(self.root)
        return out

    def all_text(self) -> list[str]:
        """Every text on screen (labels, buttons, list entries), for the "French only" test."""
        texts: list[str] = []
        for w in self._shown_widgets():
            if isinstance(w, ttk.Combobox):
                texts += [str(v) for v in w.cget("values")]
            else:
                try:
                    texts.append(str(w.cget("text")))
                except tk.TclError:
                    continue
        return [t for t in texts if t]

    def overflowing(self) -> list[str]:
        """Shown widgets whose text does not fit: clipped by their own size, by the window, or (a list) an entry
        wider than the field. Empty when the layout holds."""
        self.root.update_idletasks()
        bottom = self.root.winfo_rooty() + self.root.winfo_height()
        right = self.root.winfo_rootx() + self.root.winfo_width()
        out = []
        for w in self._shown_widgets():
            if w is self.root or isinstance(w, tk.Frame):
                continue
            name = f"{w.winfo_class()}:{str(w.cget('text'))[:30] if not isinstance(w, ttk.Combobox) else 'list'}"
            if w.winfo_rooty() + w.winfo_height() > bottom or w.winfo_rootx() + w.winfo_width() > right:
                out.append(name)
            elif isinstance(w, tk.Label | tk.Button) and (w.winfo_reqheight() > w.winfo_height() + 1):
                out.append(name)
            elif isinstance(w, ttk.Combobox):
                font = tkfont.nametofont("TkTextFont")
                widest = max([font.measure(str(v)) for v in w.cget("values")] + [0])
                if widest > w.winfo_width() - 24:  # the arrow takes ~20 px
                    out.append(name)
        return out

    def colours(self) -> dict[str, list[str]]:
        """Background, foreground and state of the panel's named buttons (a disabled one must look it)."""
        out = {}
        for name, w in self._panel_widgets().items():
            if isinstance(w, tk.Button) and w.winfo_exists():
                out[name] = [str(w.cget("bg")), str(w.cget("fg")), str(w.cget("state"))]
        return out

    def _panel_widgets(self) -> dict[str, Any]:
        return dict(getattr(self._panel, "widgets", {}) or {})

    def layout(self) -> dict[str, list[int]]:
        """Screen geometry of the named widgets (x, y, width, height), for tests and benchmarks."""
        self.root.update_idletasks()
        named: dict[str, tk.Widget] = {**self._panel_widgets(), "scan": self.scan_entry, "notice": self.notice,
                                       "next": self.next_button, "scan_result": self.scan_result,
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
