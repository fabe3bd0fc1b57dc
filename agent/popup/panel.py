"""The qualification panel in Tk: renders the INS plugin's `identity.view` view model as is.

No rule here: the texts, the per-field states, which buttons are enabled and why not all come from the
view model; the panel only adds "a document must be picked before confirming" (there is no default).
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Any

BG = "#ffffff"
STATE_BG = {"equal": BG, "equal_except_case_accents": "#fff4d6", "different": "#fde2e1"}
WRAP = 400


class Panel(tk.Frame):
    def __init__(self, master: tk.Misc, *, on_qualify: Callable[[str, str | None], None],
                 on_postpone: Callable[[], None]) -> None:
        super().__init__(master, bg=BG)
        self._on_qualify = on_qualify
        self._on_postpone = on_postpone
        self.document = tk.StringVar(self, value="")
        self.view: dict[str, Any] | None = None
        self.widgets: dict[str, Any] = {}
        self._codes: dict[str, str] = {}

    def render(self, view: dict[str, Any], error: str | None = None) -> None:
        if self.view is None or view.get("identity_id") != self.view.get("identity_id"):
            self.document.set("")  # never carry a document choice over to another patient
        self.view = view
        for child in self.winfo_children():
            child.destroy()
        self.widgets = {}
        tk.Label(self, text=view.get("status_label") or view["status"], bg="#e7edf3", anchor="w",
                 font=("TkDefaultFont", 10, "bold")).pack(fill="x", pady=(0, 4))
        self.widgets["message"] = tk.Label(self, text=view.get("message") or "", wraplength=WRAP, justify="left",
                                           anchor="w", bg=BG)
        self.widgets["message"].pack(fill="x")
        self._table(view)
        if view["status"] != "QUAL":
            self._actions(view)
        if error:
            tk.Label(self, text=error, fg="#a30000", wraplength=WRAP, justify="left", anchor="w",
                     bg=BG).pack(fill="x", pady=(4, 0))

    def _table(self, view: dict[str, Any]) -> None:
        grid = tk.Frame(self, bg="#d3dbe3")
        grid.pack(fill="x", pady=4)
        labels = view.get("column_labels") or {}
        heads = ["Trait", labels.get("local", "")] + ([labels.get("insi", "")] if view["columns"].get("insi") else [])
        for col, text in enumerate(heads):
            tk.Label(grid, text=text, font=("TkDefaultFont", 9, "bold"), bg="#eef2f6", anchor="w").grid(
                row=0, column=col, sticky="nsew", padx=1, pady=1)
        rows: list[tuple[str, str, str | None, str]] = []
        for f in view.get("fields") or []:
            shown = f"{f.get('insi') or '—'}"
            if f["state"] != "equal":  # said in words, not only by the colour
                shown += f"\n{f.get('state_label', '')}"
            rows.append((f["label"], f.get("local") or "—", shown, f["state"]))
        if not rows:  # no INSi answer yet: the local column alone
            for key, value in (view["columns"].get("local") or {}).items():
                if value not in (None, "", []):
                    text = " ".join(value) if isinstance(value, list) else str(value)
                    rows.append((key.replace("_", " "), text, None, "equal"))
        for r, (label, local, insi, state) in enumerate(rows, start=1):
            bg = STATE_BG.get(state, BG)
            cells = [label, local] + ([insi] if insi is not None else [])
            for col, text in enumerate(cells):
                tk.Label(grid, text=text, bg=bg, anchor="w", justify="left", wraplength=WRAP // 3,
                         font=("TkDefaultFont", 9, "bold" if state == "different" else "normal")).grid(
                    row=r, column=col, sticky="nsew", padx=1, pady=1)
        for col in range(len(heads)):
            grid.columnconfigure(col, weight=1)

    def _actions(self, view: dict[str, Any]) -> None:
        actions = view["actions"]
        by_doc, attest = actions["qualify_document"], actions["qualify_attestation"]
        # A read-only list with nothing selected (no default document), one line high: the popup stays small.
        row = tk.Frame(self, bg=BG)
        row.pack(fill="x", pady=(6, 2))
        tk.Label(row, text="Document d'identité vérifié :", bg=BG).pack(side="left")
        docs = view.get("documents") or []
        self._codes = {d["label"]: d["code"] for d in docs}
        chooser = ttk.Combobox(row, values=[d["label"] for d in docs], state="readonly" if by_doc["allowed"]
                               else "disabled", width=34, takefocus=True)
        chosen = next((d["label"] for d in docs if d["code"] == self.document.get()), "")
        chooser.set(chosen)
        chooser.bind("<<ComboboxSelected>>", lambda _e: self._choose(chooser.get()))
        chooser.pack(side="left", fill="x", expand=True, padx=(4, 0))
        self.widgets["documents"] = chooser
        confirm = tk.Button(self, text=view["confirm_label"], command=self._confirm)
        confirm.pack(anchor="w", pady=(2, 0))
        self.widgets["confirm"] = confirm
        if by_doc.get("reason"):
            tk.Label(self, text=by_doc["reason"], fg="#8a4b00", bg=BG, wraplength=WRAP, justify="left",
                     anchor="w").pack(fill="x")
        att = tk.Button(self, text=view["attestation_text"], wraplength=WRAP, justify="left",
                        state="normal" if attest["allowed"] else "disabled",
                        command=lambda: self._on_qualify("attestation", None))
        att.pack(fill="x", pady=(6, 0))
        self.widgets["attestation"] = att
        if attest.get("reason"):
            tk.Label(self, text=attest["reason"], fg="#8a4b00", bg=BG, wraplength=WRAP, justify="left",
                     anchor="w").pack(fill="x")
        later = tk.Button(self, text="Plus tard (Échap)", command=self._on_postpone,
                          state="normal" if actions["postpone"]["allowed"] else "disabled")
        later.pack(anchor="e", pady=(6, 0))
        self.widgets["postpone"] = later
        self._sync()

    def _choose(self, label: str) -> None:
        self.document.set(self._codes.get(label, ""))
        self._sync()

    def _sync(self) -> None:
        confirm = self.widgets.get("confirm")
        if confirm is not None and self.view is not None:
            allowed = self.view["actions"]["qualify_document"]["allowed"] and bool(self.document.get())
            confirm.configure(state="normal" if allowed else "disabled")

    def _confirm(self) -> None:
        if self.document.get():
            self._on_qualify("document", self.document.get())

    def first_focus(self) -> Any:
        """Where the keyboard starts: the one-click attestation when allowed, else the documents."""
        for name in ("attestation", "documents", "postpone"):
            w = self.widgets.get(name)
            if w is not None and str(w.cget("state")) != "disabled":
                return w
        return None
