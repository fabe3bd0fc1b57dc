/* <vigie-qualification identity-id="..."> : Vigie's INS qualification panel for browser-based LGCs.
 *
 * It renders the `identity.view` view model of the INS plugin as is (no rule lives here: which buttons are
 * enabled and why not, the messages and labels all come from the agent) and sends the user's choice back
 * with `identity.qualify`. Give it a connected client: `panel.client = vigieClient` (vigie.js).
 *
 * Events it dispatches (bubbling, composed): `vigie-qualified` {identity_id, status}, `vigie-postponed`
 * {identity_id}, `vigie-rendered` {identity_id, status}.
 * Keyboard: Tab between the documents and the buttons, Enter/Space confirm the focused button, Esc postpones.
 */
(function () {
  "use strict";

  const STYLE = `
    :host { display: block; font: 14px system-ui, sans-serif; color: #1d2733; max-width: 44rem; }
    section { border: 1px solid #b8c4d0; border-radius: 6px; padding: .8rem 1rem; background: #fff; }
    h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
    .status { display: inline-block; padding: .1rem .5rem; border-radius: 4px; background: #e7edf3; font-size: .9rem; }
    .status.QUAL { background: #d9f2e0; }
    .message { margin: .5rem 0; }
    .message.busy { color: #5a6a7a; }
    table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
    th, td { border: 1px solid #d3dbe3; padding: .25rem .5rem; text-align: left; vertical-align: top; }
    tr.different td { background: #fde2e1; font-weight: 600; }
    tr.equal_except_case_accents td { background: #fff4d6; }
    .state { display: block; font-size: .8rem; font-weight: 400; color: #5a6a7a; }
    fieldset { border: 1px solid #d3dbe3; margin: .5rem 0; }
    label { display: block; padding: .1rem 0; }
    button { font: inherit; padding: .35rem .8rem; margin: .3rem .4rem .3rem 0; cursor: pointer; }
    button.primary { background: #1f5fa8; color: #fff; border: 1px solid #174a84; border-radius: 4px; }
    button.attest { display: block; text-align: left; white-space: normal; max-width: 100%; }
    button:disabled, button.primary:disabled { background: #e3e8ee; color: #8a96a3; border: 1px solid #c8d0d9;
      opacity: 1; cursor: not-allowed; }
    .qualified { border-left: 4px solid #116b2e; background: #eef8f1; padding: .4rem .7rem; margin: .5rem 0; }
    .qualified h3 { margin: 0 0 .2rem; font-size: 1rem; color: #116b2e; }
    .qualified dl, .former dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: 0; }
    .qualified dt, .former dt { color: #5a6a7a; }
    .qualified dd, .former dd { margin: 0; }
    .changes { background: #f4f7fb; border: 1px solid #d3dbe3; padding: .4rem .7rem; margin: .5rem 0; }
    .changes p { margin: 0 0 .2rem; font-weight: 600; }
    .changes ul { margin: 0; padding-left: 1.2rem; }
    .former { color: #3d4a57; margin: .4rem 0; font-size: .9rem; }
    button:focus-visible, input:focus-visible { outline: 3px solid #f0a800; outline-offset: 1px; }
    .why { color: #8a4b00; font-size: .85rem; margin: 0 0 .3rem; }
    .error { color: #a30000; font-weight: 600; }
    .done { color: #116b2e; font-weight: 600; }
  `;

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

  class VigieQualification extends HTMLElement {
    static get observedAttributes() { return ["identity-id"]; }

    constructor() {
      super();
      this._root = this.attachShadow({mode: "open"});
      this._root.append(el("style", {}, STYLE));
      this._body = el("section", {role: "region", "aria-label": "Qualification de l'identité INS"});
      this._root.append(this._body);
      this._client = null;
      this._off = null;
      this._view = null;
      this._document = "";
      this._error = null;
      this._uid = ++uid;
      this.addEventListener("keydown", (e) => { if (e.key === "Escape") this._postpone(); });
    }

    get client() { return this._client; }
    set client(client) {
      if (this._off) this._off();
      this._client = client;
      this._off = client ? client.on("identity.updated", (p) => {
        if (p.identity_id === this.identityId) this.refresh();
      }) : null;
      this.refresh();
    }

    get identityId() { return this.getAttribute("identity-id"); }
    set identityId(v) { this.setAttribute("identity-id", v); }

    get view() { return this._view; }

    attributeChangedCallback() {
      this._view = null; this._document = ""; this._error = null;
      this.refresh();
    }

    disconnectedCallback() { if (this._off) this._off(); this._off = null; }

    async refresh() {
      const id = this.identityId;
      if (!this._client || !id) { this.render(null); return; }
      try {
        const view = await this._client.call("identity.view", {identity_id: id});
        if (id === this.identityId) this.render(view);
      } catch (err) {
        this._error = err.message;
        this.render(this._view);
      }
    }

    /** Render a view model (public: the LGC may render one it already has). */
    render(view) {
      if (view && this._view && view.identity_id !== this._view.identity_id) this._document = "";
      this._view = view;
      const body = this._body;
      body.replaceChildren();
      if (!view) {
        body.append(el("p", {class: "message busy"}, "Aucune identité sélectionnée."));
        return;
      }
      const n = this._uid;
      body.append(el("h2", {}, "Identité INS ",
        el("span", {class: "status " + view.status, "data-status": view.status}, view.status_label)));
      const pending = view.insi && view.insi.outcome === "pending";
      // One message per state (panel_message); older agents send only `message`.
      const message = "panel_message" in view ? view.panel_message : view.message;
      if (message) {
        body.append(el("p", {class: "message" + (pending ? " busy" : ""), id: "msg-" + n, role: "status",
          "aria-live": "polite"}, message));
      }
      if (view.qualified) body.append(this._qualified(view.qualified));
      body.append(this._table(view));
      if (view.former_ins && view.former_ins.length) body.append(this._former(view.former_ins));
      if (view.status !== "QUAL") {
        if (view.changes && view.changes.length) body.append(this._changes(view.changes));
        body.append(...this._actions(view, n));
      }
      if (this._error) body.append(el("p", {class: "error", role: "alert"}, this._error));
      this.dispatchEvent(new CustomEvent("vigie-rendered",
        {bubbles: true, composed: true, detail: {identity_id: view.identity_id, status: view.status}}));
    }

    _table(view) {
      const labels = view.column_labels || {};
      const withInsi = !!view.columns.insi;
      const head = el("tr", {}, el("th", {scope: "col"}, "Trait"), el("th", {scope: "col"}, labels.local || ""));
      if (withInsi) head.append(el("th", {scope: "col"}, labels.insi || ""));
      const rows = (view.rows || []).map((r) => {
        const cells = [el("th", {scope: "row"}, r.label), el("td", {}, r.local || "—")];
        if (withInsi) {
          cells.push(el("td", {}, r.insi || "—", r.state_label ? el("span", {class: "state"}, r.state_label) : null));
        }
        return el("tr", {class: r.state || "", "data-field": r.field, "data-state": r.state || null}, ...cells);
      });
      return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
    }

    _qualified(q) {
      const items = [["INS", `${q.matricule} (${q.type})`], ["OID", q.oid]];
      if (q.by) items.push(["Qualifiée par", q.by]);
      if (q.at) items.push(["Le", q.at]);
      if (q.how) items.push(["Comment", q.how]);
      const dl = el("dl", {}, ...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v || "—")]));
      return el("div", {class: "qualified", role: "status"}, el("h3", {}, q.title), dl);
    }

    _former(former) {
      const dl = el("dl", {}, ...former.flatMap((f) => {
        let when = "";
        if (f.start) when += ` du ${f.start}`;
        if (f.end) when += ` au ${f.end}`;
        return [el("dt", {}, "Ancien INS"), el("dd", {}, `${f.matricule} (${f.type})${when}`)];
      }));
      return el("div", {class: "former"}, dl);
    }

    _changes(changes) {
      const items = changes.map((c) => el("li", {"data-field": c.field},
        `${c.label} : ${c.before || "—"} → ${c.after || "—"}`));
      return el("div", {class: "changes"}, el("p", {}, "En qualifiant, le dossier prend les traits INSi :"),
        el("ul", {}, ...items));
    }

    _actions(view, n) {
      const out = [];
      const byDoc = view.actions.qualify_document;
      const attest = view.actions.qualify_attestation;
      const radios = view.documents.map((d) => {
        const input = el("input", {type: "radio", name: "vigie-doc-" + n, value: d.code,
          checked: this._document === d.code, disabled: !byDoc.allowed});
        input.addEventListener("change", () => { this._document = d.code; this._syncConfirm(); });
        return el("label", {}, input, " ", d.label);
      });
      const notices = view.notices || {};
      const relaunch = view.actions.relaunch;
      if (relaunch && relaunch.allowed) {
        const again = el("button", {type: "button", "data-action": "relaunch"}, relaunch.label);
        again.addEventListener("click", () => this._relaunch());
        out.push(el("div", {}, again));
      }
      const docText = "notices" in view ? notices.qualify_document : byDoc.reason;
      const docWhy = docText ? el("p", {class: "why", id: "why-doc-" + n}, docText) : null;
      // A refused button is described by its own notice, else by the panel's message that says why.
      const stateWhy = (view.panel_message || view.message) ? "msg-" + n : null;
      out.push(el("fieldset", {}, el("legend", {}, "Document d'identité vérifié"), ...radios));
      const confirm = el("button", {class: "primary confirm", type: "button", "data-action": "document",
        "aria-describedby": docWhy ? "why-doc-" + n : (byDoc.allowed ? null : stateWhy)}, view.confirm_label);
      confirm.addEventListener("click", () => this._qualify("document", this._document));
      this._confirm = confirm;
      out.push(confirm);
      if (docWhy) out.push(docWhy);
      const attText = "notices" in view ? notices.qualify_attestation : attest.reason;
      const attWhy = attText ? el("p", {class: "why", id: "why-att-" + n}, attText) : null;
      const attButton = el("button", {class: "attest", type: "button", "data-action": "attestation",
        disabled: !attest.allowed,
        "aria-describedby": attWhy ? "why-att-" + n : (attest.allowed ? null : stateWhy)}, view.attestation_text);
      attButton.addEventListener("click", () => this._qualify("attestation", null));
      out.push(attButton);
      if (attWhy) out.push(attWhy);
      const later = el("button", {type: "button", "data-action": "postpone", disabled: !view.actions.postpone.allowed},
        "Plus tard");
      later.addEventListener("click", () => this._postpone());
      out.push(el("div", {}, later));
      this._syncConfirm();
      return out;
    }

    _syncConfirm() {
      const allowed = this._view && this._view.actions.qualify_document.allowed;
      if (this._confirm) this._confirm.disabled = !(allowed && this._document);
    }

    async _qualify(method, documentType) {
      const view = this._view;
      if (!view || !this._client) return;
      this._error = null;
      const params = {identity_id: view.identity_id, method};
      if (documentType) params.document_type = documentType;
      try {
        const result = await this._client.call("identity.qualify", params);
        this.dispatchEvent(new CustomEvent("vigie-qualified",
          {bubbles: true, composed: true, detail: {identity_id: view.identity_id, status: result.status}}));
      } catch (err) {
        this._error = err.message;
      }
      await this.refresh();
    }

    async _relaunch() {
      const view = this._view;
      if (!view || !this._client) return;
      this._error = null;
      try {
        await this._client.call("identity.relaunch", {identity_id: view.identity_id});
      } catch (err) {
        this._error = err.message;
      }
      await this.refresh();
    }

    _postpone() {
      if (!this._view) return;
      this.dispatchEvent(new CustomEvent("vigie-postponed",
        {bubbles: true, composed: true, detail: {identity_id: this._view.identity_id}}));
    }
  }

  if (!customElements.get("vigie-qualification")) customElements.define("vigie-qualification", VigieQualification);
})();
