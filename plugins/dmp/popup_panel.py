"""The documents panel in the host's Tk popup (renderer of the `dmp_document` panel kind, see
`register_ui_panels`): one document whose DMP send waits for the user (an identity to qualify, a CPS card,
a refusal), rendered from the DMP plugin's view model as is (plugins/dmp/view.py), with its MSSanté
recipients (`mss.messages`), "Ne pas envoyer" and the masking options. Imported in the popup process only.
"""

from __future__ import annotations

import tkinter as tk
from typing import Any

BG = "#ffffff"
WRAP = 420
DISABLED_FG = "#8a96a3"
STATE_BG = {"sent": "#d9f2e0", "queued": "#fff4d6", "sending": "#fff4d6", "failed": "#fde2e1",
            "cancelled": "#e3e8ee"}
MSS_STATES = {"queued": "en file d'attente", "sending": "envoi en cours", "sent": "envoyé", "delivered": "distribué",
              "read": "lu", "failed": "échec"}
ROLES = {"treating": "médecin traitant", "prescriber": "prescripteur", "professional": "professionnel",
         "patient": "patient"}


class DocumentPanel(tk.Frame):
    def __init__(self, master: tk.Misc, host: Any) -> None:
        super().__init__(master, bg=BG)
        self.host = host
        self.view: dict[str, Any] | None = None
        self.widgets: dict[str, Any] = {}
        self.masks: dict[str, tk.BooleanVar] = {}
        self.error: str | None = None

    # -- host interface ----------------------------------------------------------------------------
    def render(self, view: dict[str, Any]) -> None:
        if self.view is None or view.get("document_id") != self.view.get("document_id"):
            self.error = None
        self.view = view
        for child in self.winfo_children():
            child.destroy()
        self.widgets = {}
        self.masks = {}
        self._text(f"{view.get('title')} — {view.get('patient') or ''}".rstrip(" —"),
                   font=("TkDefaultFont", 10, "bold"))
        self.widgets["state"] = tk.Label(self, text=view["state_label"], bg=STATE_BG.get(view["state"], "#e7edf3"),
                                         anchor="w", font=("TkDefaultFont", 10, "bold"))
        self.widgets["state"].pack(fill="x", pady=(2, 2))
        if view.get("reason"):
            self.widgets["reason"] = self._text(view["reason"])
        self._actions(view)
        self._masking(view)
        self.widgets["mss"] = self._text("Messagerie sécurisée (MSSanté) : …", fg="#3d4a57", pady=(6, 0))
        self.host.call("mss.messages", {"document_id": view["document_id"]},
                       lambda result, error: self._mss(view["document_id"], result, error))
        if self.error:
            self.widgets["error"] = self._text(self.error, fg="#a30000")

    def first_focus(self) -> Any:
        for name in ("cancel", "resend"):
            w = self.widgets.get(name)
            if w is not None and str(w.cget("state")) != "disabled":
                return w
        return None

    def default_button(self) -> Any:
        return None  # Enter never cancels a send by itself

    # -- pieces --------------------------------------------------------------------------------------
    def _text(self, text: str, fg: str = "#1d2733", font: Any = None, **pack: Any) -> tk.Label:
        label = tk.Label(self, text=text, fg=fg, bg=BG, wraplength=WRAP, justify="left", anchor="w",
                         **({"font": font} if font else {}))
        label.pack(fill="x", **pack)
        return label

    def _actions(self, view: dict[str, Any]) -> None:
        row = tk.Frame(self, bg=BG)
        row.pack(fill="x", pady=(4, 0))
        cancel = view["actions"]["cancel"]
        doc = {"document_id": view["document_id"]}
        self.widgets["cancel"] = tk.Button(row, text=cancel["label"], fg="#a30000", disabledforeground=DISABLED_FG,
                                           state="normal" if cancel["allowed"] else "disabled",
                                           command=lambda: self._call("dmp.cancel", doc))
        self.widgets["cancel"].pack(side="left")
        resend = view["actions"]["resend"]
        if resend["allowed"]:
            self.widgets["resend"] = tk.Button(row, text=resend["label"],
                                               command=lambda: self._call("dmp.send", doc))
            self.widgets["resend"].pack(side="left", padx=(6, 0))
        if cancel.get("reason") and view["state"] != "cancelled":
            self.widgets["cancel_why"] = self._text(cancel["reason"], fg="#8a4b00")

    def _masking(self, view: dict[str, Any]) -> None:
        box = tk.LabelFrame(self, text=view["actions"]["mask"]["label"], bg=BG)
        box.pack(fill="x", pady=(6, 0))
        allowed = view["actions"]["mask"]["allowed"]
        for m in view["masking"]:
            var = tk.BooleanVar(self, value=bool(m["checked"]))
            self.masks[m["option"]] = var
            check = tk.Checkbutton(box, text=m["label"], variable=var, bg=BG, anchor="w",
                                   state="normal" if allowed else "disabled", disabledforeground=DISABLED_FG,
                                   command=self._masked)
            check.pack(fill="x")
            self.widgets["mask_" + m["option"]] = check
        if view.get("mask_note"):
            tk.Label(box, text=view["mask_note"], fg="#5a6a7a", bg=BG, wraplength=WRAP - 20, justify="left",
                     anchor="w").pack(fill="x")

    def _masked(self) -> None:
        if self.view is not None:
            chosen = [option for option, var in self.masks.items() if var.get()]
            self._call("dmp.mask", {"document_id": self.view["document_id"], "masking": chosen})

    def _mss(self, document_id: str, result: Any, error: Any) -> None:
        label = self.widgets.get("mss")
        if label is None or not label.winfo_exists() or self.view is None or self.view["document_id"] != document_id:
            return
        if error or not isinstance(result, dict):
            label.configure(text="Messagerie sécurisée (MSSanté) : non configurée sur ce poste.")
            return
        lines = []
        for m in result.get("sent") or []:
            if m.get("kind") == "fin":
                continue
            for r in m.get("recipients") or [{"address": "", "role": None, "state": m.get("state"),
                                              "reason": m.get("reason")}]:
                who = r.get("name") or r.get("address") or "destinataire"
                role = f" ({ROLES[r['role']]})" if r.get("role") in ROLES else ""
                state = MSS_STATES.get(r.get("state") or "", r.get("state") or "")
                lines.append(f"• {who}{role} : {state}" + (f" — {r['reason']}" if r.get("reason") else ""))
        label.configure(text="Messagerie sécurisée (MSSanté) :\n" + ("\n".join(lines) if lines else "aucun envoi."))

    def _call(self, method: str, params: dict[str, Any]) -> None:
        def done(_result: Any, error: Any) -> None:
            # The new state comes back through panel_changed (the host asks the view again); only a refusal
            # is said here.
            if error:
                self.error = str(error.get("message") if isinstance(error, dict) else error)
                if self.view is not None:
                    self.render(self.view)

        self.error = None
        self.host.call(method, params, done)
