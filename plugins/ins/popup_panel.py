"""The qualification panel in the host's Tk popup (renderer of the `identity` panel kind, see
`register_ui_panels`): it renders the `identity.view` view model as is.

No rule here: the texts, the per-row states, which buttons are enabled and why not all come from the view
model; the panel only adds "a document must be picked before confirming" (there is no default). Imported
in the popup process only (tkinter).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

BG = "#ffffff"
STATE_BG = {"equal": BG, "equal_except_case_accents": "#fff4d6", "different": "#fde2e1"}
WRAP = 420
DISABLED_FG = "#8a96a3"
PRIMARY = {"bg": "#1f5fa8", "fg": "#ffffff", "activebackground": "#174a84", "activeforeground": "#ffffff"}
# A disabled confirm button must look disabled: grey, not the primary blue.
PRIMARY_OFF = {"bg": "#e3e8ee", "fg": DISABLED_FG, "disabledforeground": DISABLED_FG}


class IdentityPanel(tk.Frame):
    def __init__(self, master: tk.Misc, host: Any) -> None:
        super().__init__(master, bg=BG)
        self.host = host
        self.document = tk.StringVar(self, value="")
        self.view: dict[str, Any] | None = None
        self.widgets: dict[str, Any] = {}
        self._codes: dict[str, str] = {}
        self.error: str | None = None

    # -- host interface ----------------------------------------------------------------------------
    def render(self, view: dict[str, Any]) -> None:
        if self.view is None or view.get("identity_id") != self.view.get("identity_id"):
            self.document.set("")  # never carry a document choice over to another patient
            self.error = None
        self.view = view
        for child in self.winfo_children():
            child.destroy()
        self.widgets = {}
        tk.Label(self, text=view.get("status_label") or view["status"], bg="#e7edf3", anchor="w",
                 font=("TkDefaultFont", 10, "bold")).pack(fill="x", pady=(0, 4))
        if view.get("qualified"):
            self._qualified(view["qualified"])
        if view.get("panel_message"):
            self.widgets["message"] = self._text(view["panel_message"])
        self._table(view)
        self._former(view)
        if view["status"] != "QUAL":
            self._changes(view)
            self._actions(view)
        if self.error:
            self.widgets["error"] = self._text(self.error, fg="#a30000")

    def first_focus(self) -> Any:
        """Where the keyboard starts: the one-click attestation when allowed, else the documents."""
        for name in ("attestation", "documents", "relaunch", "postpone"):
            w = self.widgets.get(name)
            if w is not None and str(w.cget("state")) != "disabled":
                return w
        return None

    def default_button(self) -> Any:
        """What Enter in a list or a field confirms."""
        return self.widgets.get("confirm")

    # -- pieces --------------------------------------------------------------------------------------
    def _text(self, text: str, fg: str = "#1d2733", **pack: Any) -> tk.Label:
        label = tk.Label(self, text=text, fg=fg, bg=BG, wraplength=WRAP, justify="left", anchor="w")
        label.pack(fill="x", **pack)
        return label

    def _qualified(self, q: dict[str, Any]) -> None:
        lines = [f"INS : {q.get('matricule')} ({q.get('type')})", f"OID : {q.get('oid')}"]
        who = " ".join(p for p in (f"par {q['by']}" if q.get("by") else "", f"le {q['at']}" if q.get("at") else "")
                       if p)
        if who or q.get("how"):
            lines.append("Qualifiée " + ", ".join(p for p in (who, q.get("how")) if p))
        self.widgets["qualified"] = self._text("\n".join(lines), fg="#116b2e")

    def _table(self, view: dict[str, Any]) -> None:
        grid = tk.Frame(self, bg="#d3dbe3")
        grid.pack(fill="x", pady=4)
        labels = view.get("column_labels") or {}
        with_insi = bool(view["columns"].get("insi"))
        heads = ["Trait", labels.get("local", "")] + ([labels.get("insi", "")] if with_insi else [])
        for col, text in enumerate(heads):
            tk.Label(grid, text=text, font=("TkDefaultFont", 9, "bold"), bg="#eef2f6", anchor="w").grid(
                row=0, column=col, sticky="nsew", padx=1, pady=1)
        for r, row in enumerate(view.get("rows") or [], start=1):
            state = row.get("state") or "equal"
            insi = None
            if with_insi:
                insi = row.get("insi") or "—"
                if state != "equal" and row.get("state_label"):  # said in words, not only by the colour
                    insi += f"\n{row['state_label']}"
            cells = [row["label"], row.get("local") or "—"] + ([insi] if insi is not None else [])
            for col, text in enumerate(cells):
                tk.Label(grid, text=text, bg=STATE_BG.get(state, BG), anchor="w", justify="left",
                         wraplength=WRAP // len(heads) + 20,
                         font=("TkDefaultFont", 9, "bold" if state == "different" else "normal")).grid(
                    row=r, column=col, sticky="nsew", padx=1, pady=1)
        for col in range(len(heads)):
            grid.columnconfigure(col, weight=1)

    def _former(self, view: dict[str, Any]) -> None:
        former = view.get("former_ins") or []
        if former:
            lines = [f"{f['matricule']} ({f['type']})" + (f", du {f['start']}" if f.get("start") else "")
                     + (f" au {f['end']}" if f.get("end") else "") for f in former]
            self._text("Ancien(s) INS : " + " ; ".join(lines), fg="#5a6a7a")

    def _changes(self, view: dict[str, Any]) -> None:
        changes = view.get("changes") or []
        if changes:
            lines = [f"{c['label']} : {c.get('before') or '—'} → {c.get('after') or '—'}" for c in changes]
            self.widgets["changes"] = self._text("En qualifiant, le dossier prend les traits INSi :\n"
                                                 + "\n".join(lines), fg="#1d2733", pady=(2, 2))

    def _actions(self, view: dict[str, Any]) -> None:
        actions = view["actions"]
        by_doc, attest = actions["qualify_document"], actions["qualify_attestation"]
        relaunch = actions.get("relaunch") or {}
        if relaunch.get("allowed"):
            button = tk.Button(self, text=relaunch.get("label") or "", command=self._relaunch)
            button.pack(anchor="w", pady=(4, 0))
            self.widgets["relaunch"] = button
        # A read-only list with nothing selected (no default document), as wide as the panel: full labels.
        tk.Label(self, text="Document d'identité vérifié :", bg=BG, anchor="w").pack(fill="x", pady=(6, 0))
        docs = view.get("documents") or []
        self._codes = {d["label"]: d["code"] for d in docs}
        width = max([len(d["label"]) for d in docs] + [20])
        chooser = ttk.Combobox(self, values=[d["label"] for d in docs], width=width,
                               state="readonly" if by_doc["allowed"] else "disabled", takefocus=True)
        chooser.set(next((d["label"] for d in docs if d["code"] == self.document.get()), ""))
        chooser.bind("<<ComboboxSelected>>", lambda _e: self._choose(chooser.get()))
        chooser.pack(fill="x")
        self.widgets["documents"] = chooser
        confirm = tk.Button(self, text=view["confirm_label"], command=self._confirm, relief="flat", padx=10)
        confirm.pack(anchor="w", pady=(4, 0))
        self.widgets["confirm"] = confirm
        notices = view.get("notices") or {}
        if notices.get("qualify_document"):
            self.widgets["why_document"] = self._text(notices["qualify_document"], fg="#8a4b00")
        att = tk.Button(self, text=view["attestation_text"], wraplength=WRAP - 10, justify="left",
                        state="normal" if attest["allowed"] else "disabled", disabledforeground=DISABLED_FG,
                        command=lambda: self._qualify("attestation", None))
        att.pack(fill="x", pady=(6, 0))
        self.widgets["attestation"] = att
        if notices.get("qualify_attestation"):
            self.widgets["why_attestation"] = self._text(notices["qualify_attestation"], fg="#8a4b00")
        later = tk.Button(self, text="Plus tard (Échap)", command=self.host.postpone,
                          state="normal" if actions["postpone"]["allowed"] else "disabled")
        later.pack(anchor="e", pady=(6, 0))
        self.widgets["postpone"] = later
        self._sync()

    # -- behaviour -------------------------------------------------------------------------------------
    def _choose(self, label: str) -> None:
        self.document.set(self._codes.get(label, ""))
        self._sync()

    def _sync(self) -> None:
        confirm = self.widgets.get("confirm")
        if confirm is not None and self.view is not None:
            allowed = self.view["actions"]["qualify_document"]["allowed"] and bool(self.document.get())
            confirm.configure(state="normal" if allowed else "disabled", **(PRIMARY if allowed else PRIMARY_OFF))

    def _confirm(self) -> None:
        if self.document.get():
            self._qualify("document", self.document.get())

    def _qualify(self, method: str, document: str | None) -> None:
        view = self.view
        if view is None:
            return
        ident = view["identity_id"]
        params: dict[str, Any] = {"identity_id": ident, "method": method}
        if document:
            params["document_type"] = document

        def qualified(result: Any, error: Any) -> None:
            if error is not None:
                self.error = error.get("message") or "Erreur"
                self.host.call("identity.view", {"identity_id": ident}, lambda v, _e: self._refreshed(ident, v))
            elif result and result.get("status") == "QUAL":
                # Closed on success; the popup says what was done for a few seconds (non-modal).
                self.host.call("identity.view", {"identity_id": ident},
                               lambda v, _e: self.host.done(ident, done_text(v or {})))
            else:
                self.host.call("identity.view", {"identity_id": ident}, lambda v, _e: self._refreshed(ident, v))

        self.host.call("identity.qualify", params, qualified)

    def _relaunch(self) -> None:
        view = self.view
        if view is None:
            return
        ident = view["identity_id"]

        def relaunched(_result: Any, error: Any) -> None:
            self.error = error.get("message") if error else None
            self.host.call("identity.view", {"identity_id": ident}, lambda v, _e: self._refreshed(ident, v))

        self.host.call("identity.relaunch", {"identity_id": ident}, relaunched)

    def _refreshed(self, ident: str, view: Any) -> None:
        if isinstance(view, dict):
            self.host.update(ident, view)


def done_text(view: dict[str, Any]) -> str:
    """The short notice after a qualification: "Identité qualifiée : NOM Prénom — INS … (NIR), par …"."""
    q = view.get("qualified") or {}
    local = (view.get("columns") or {}).get("local") or {}
    name = " ".join(p for p in (local.get("birth_name"), " ".join(local.get("first_names") or [])[:40]) if p)
    text = f"Identité qualifiée : {name}" if name else "Identité qualifiée"
    if q.get("matricule"):
        text += f" — INS {q['matricule']} ({q.get('type')})"
    if q.get("by"):
        text += f", par {q['by']}"
    return text
