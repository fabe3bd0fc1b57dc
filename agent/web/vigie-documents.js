/* <vigie-documents identity-id="..."> : what became of a patient's documents (DMP and MSSanté).
 *
 * It renders the DMP plugin's `dmp.view` view model as is (the French states, why a document waits or was
 * refused, the masking options and which buttons are open all come from the agent), and next to each
 * document its MSSanté messages from `mss.messages` (recipients and their states). Changes go back with
 * `dmp.cancel` ("Ne pas envoyer"), `dmp.mask` and `dmp.send {document_id}`; `dmp.document.updated` and
 * `mss.message.updated` refresh it. Give it a connected client: `panel.client = vigieClient` (vigie.js).
 *
 * Events it dispatches (bubbling, composed): `vigie-documents-rendered` {identity_id, count}.
 */
(function () {
  "use strict";

  const STYLE = `
    :host { display: block; font: 14px system-ui, sans-serif; color: #1d2733; max-width: 44rem; }
    section { border: 1px solid #b8c4d0; border-radius: 6px; padding: .8rem 1rem; background: #fff; }
    h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
    article { border-top: 1px solid #d3dbe3; padding: .5rem 0; }
    article:first-of-type { border-top: 0; }
    h3 { font-size: .98rem; margin: 0 0 .2rem; }
    .state { display: inline-block; padding: .1rem .5rem; border-radius: 4px; background: #e7edf3; font-size: .85rem;
      font-weight: 600; }
    .state.sent { background: #d9f2e0; color: #116b2e; }
    .state.queued, .state.sending { background: #fff4d6; color: #6b4a00; }
    .state.failed { background: #fde2e1; color: #a30000; }
    .state.cancelled { background: #e3e8ee; color: #4b5865; }
    .reason { margin: .2rem 0; color: #3d4a57; }
    .why { color: #8a4b00; font-size: .85rem; margin: 0 0 .3rem; }
    fieldset { border: 1px solid #d3dbe3; margin: .4rem 0; padding: .2rem .6rem; }
    fieldset[disabled] { color: #8a96a3; }
    legend { font-size: .9rem; }
    label { display: block; padding: .1rem 0; }
    .note { font-size: .8rem; color: #5a6a7a; margin: .1rem 0; }
    button { font: inherit; padding: .3rem .8rem; margin: .3rem .4rem .3rem 0; cursor: pointer; background: #fff;
      border: 1px solid #8a96a3; border-radius: 4px; }
    button.cancel { border-color: #a30000; color: #a30000; }
    button:disabled { background: #e3e8ee; color: #8a96a3; border: 1px solid #c8d0d9; cursor: not-allowed; }
    button:focus-visible, input:focus-visible { outline: 3px solid #f0a800; outline-offset: 1px; }
    .mss { background: #f4f7fb; border: 1px solid #d3dbe3; padding: .3rem .7rem; margin: .4rem 0 0; }
    .mss p { margin: 0 0 .2rem; font-weight: 600; font-size: .9rem; }
    .mss ul { margin: 0; padding-left: 1.1rem; }
    .mss li { padding: .05rem 0; }
    .mss .rstate { font-weight: 600; }
    .mss .rstate.failed { color: #a30000; }
    .mss .rstate.read, .mss .rstate.delivered { color: #116b2e; }
    .empty { color: #5a6a7a; }
    .error { color: #a30000; font-weight: 600; }
  `;
  // MSSanté states and roles in words (presentation only; the states themselves come from the agent).
  const MSS_STATES = {queued: "en file d'attente", sending: "envoi en cours", sent: "envoyé",
                      delivered: "distribué", read: "lu", failed: "échec"};
  const ROLES = {treating: "médecin traitant", prescriber: "prescripteur", professional: "professionnel",
                 patient: "patient"};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  let uid = 0;

  class VigieDocuments extends HTMLElement {
    static get observedAttributes() { return ["identity-id"]; }

    constructor() {
      super();
      this._root = this.attachShadow({mode: "open"});
      this._root.append(el("style", {}, STYLE));
      this._body = el("section", {role: "region", "aria-label": "Documents partagés du patient"});
      this._root.append(this._body);
      this._client = null;
      this._offs = [];
      this._view = null;
      this._messages = [];
      this._error = null;
      this._timer = null;
      this._uid = ++uid;
    }

    get client() { return this._client; }
    set client(client) {
      for (const off of this._offs) off();
      this._client = client;
      this._offs = client ? [
        client.on("dmp.document.updated", (p) => { if (p.identity_id === this.identityId) this._soon(); }),
        client.on("mss.message.updated", (p) => { if (this._has(p.document_id)) this._soon(); }),
      ] : [];
      this.refresh();
    }

    get identityId() { return this.getAttribute("identity-id"); }
    set identityId(v) { this.setAttribute("identity-id", v); }
    get view() { return this._view; }

    attributeChangedCallback() { this._view = null; this._messages = []; this._error = null; this.refresh(); }
    disconnectedCallback() { for (const off of this._offs) off(); this._offs = []; }

    _has(documentId) {
      return !!(this._view && this._view.documents.some((d) => d.document_id === documentId));
    }

    _soon() {  // several events in a row (queued, sending, sent): one refresh
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this.refresh(), 80);
    }

    async refresh() {
      const id = this.identityId;
      if (!this._client || !id) { this.render(null, []); return; }
      try {
        const view = await this._client.call("dmp.view", {identity_id: id});
        let sent = [];
        try {
          sent = (await this._client.call("mss.messages", {identity_id: id})).sent || [];
        } catch (err) { sent = []; }  // MSSanté not set up on this workstation: the DMP part alone
        if (id === this.identityId) this.render(view, sent);
      } catch (err) {
        this._error = err.message;
        this.render(this._view, this._messages);
      }
    }

    /** Render a `dmp.view` view model and the `mss.messages` sent list (public: the LGC may have them). */
    render(view, messages) {
      this._view = view;
      this._messages = messages || [];
      const body = this._body;
      body.replaceChildren(el("h2", {}, "Documents partagés (DMP et messagerie sécurisée)"));
      if (!view) {
        body.append(el("p", {class: "empty"}, this._error ? "" : "Aucun patient sélectionné."));
      } else if (!view.documents.length) {
        body.append(el("p", {class: "empty"}, view.empty_message || "Aucun document."));
      } else {
        for (const doc of view.documents) body.append(this._document(doc));
      }
      if (this._error) body.append(el("p", {class: "error", role: "alert"}, this._error));
      this.dispatchEvent(new CustomEvent("vigie-documents-rendered", {bubbles: true, composed: true,
        detail: {identity_id: view ? view.identity_id : null, count: view ? view.documents.length : 0}}));
    }

    _document(doc) {
      const n = this._uid + "-" + doc.document_id;
      const art = el("article", {"data-document": doc.document_id, "data-state": doc.state},
        el("h3", {}, doc.title, " ", el("span", {class: "state " + doc.state, role: "status"}, doc.state_label)));
      if (doc.reason) art.append(el("p", {class: "reason"}, doc.reason));
      const cancel = doc.actions.cancel;
      const why = cancel.reason ? el("p", {class: "why", id: "why-cancel-" + n}, cancel.reason) : null;
      const button = el("button", {type: "button", class: "cancel", "data-action": "cancel", disabled: !cancel.allowed,
        "aria-describedby": why ? "why-cancel-" + n : null}, cancel.label);
      button.addEventListener("click", () => this._call("dmp.cancel", {document_id: doc.document_id}));
      const row = el("div", {}, button);
      if (doc.actions.resend.allowed) {
        const resend = el("button", {type: "button", "data-action": "resend"}, doc.actions.resend.label);
        resend.addEventListener("click", () => this._call("dmp.send", {document_id: doc.document_id}));
        row.append(resend);
      }
      art.append(row);
      if (why && doc.state !== "cancelled") art.append(why);
      art.append(this._masking(doc));
      const mss = this._mss(doc.document_id);
      if (mss) art.append(mss);
      return art;
    }

    _masking(doc) {
      const open = doc.actions.mask.allowed;
      const boxes = doc.masking.map((m) => {
        const input = el("input", {type: "checkbox", value: m.option, "data-option": m.option, checked: m.checked});
        input.addEventListener("change", () => {
          const chosen = doc.masking.filter((x) => (x.option === m.option ? input.checked : x.checked))
            .map((x) => x.option);
          this._call("dmp.mask", {document_id: doc.document_id, masking: chosen});
        });
        return el("label", {}, input, " ", m.label);
      });
      return el("fieldset", {disabled: !open}, el("legend", {}, doc.actions.mask.label), ...boxes,
        doc.mask_note ? el("p", {class: "note"}, doc.mask_note) : null);
    }

    _mss(documentId) {
      const messages = this._messages.filter((m) => m.document_id === documentId && m.kind !== "fin");
      if (!messages.length) return null;
      const items = [];
      for (const m of messages) {
        const none = !(m.recipients && m.recipients.length);  // refused before any recipient was chosen
        const recipients = none ? [{address: "", role: null, name: "", state: m.state, reason: m.reason}]
          : m.recipients;
        for (const r of recipients) {
          const who = [r.name, r.address].filter(Boolean).join(" — ") || "destinataire";
          const role = r.role && ROLES[r.role] ? ` (${ROLES[r.role]})` : "";
          const state = r.state || m.state;
          items.push(el("li", {"data-recipient": r.address || "", "data-state": state}, `${who}${role} : `,
            el("span", {class: "rstate " + state}, MSS_STATES[state] || state),
            r.reason ? ` — ${r.reason}` : null));
        }
      }
      return el("div", {class: "mss"}, el("p", {}, "Messagerie sécurisée (MSSanté)"), el("ul", {}, ...items));
    }

    async _call(method, params) {
      if (!this._client) return;
      this._error = null;
      try {
        await this._client.call(method, params);
      } catch (err) {
        this._error = err.message;
      }
      await this.refresh();
    }
  }

  if (!customElements.get("vigie-documents")) customElements.define("vigie-documents", VigieDocuments);
})();
