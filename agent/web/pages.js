/* Shared by the agent's own pages (batch.html, journal.html; agent/pages.py). The tray opens a page with
 * its token in the fragment (#jeton=...): kept in this origin's localStorage, then removed from the address
 * bar and the history. Without a token the page pairs like any LGC (the practitioner consents in Vigie).
 *   VigiePage.client          the Vigie.Client of the page (same origin as the agent: ws://<host>/ws)
 *   VigiePage.el(tag, attrs, ...children)
 *   VigiePage.duration(seconds) "environ 2 min"
 */
"use strict";
window.VigiePage = (function () {
  const KEY = "vigie-pages-token";
  const found = /[#&]jeton=([^&]+)/.exec(location.hash);
  if (found) {
    try { localStorage.setItem(KEY, decodeURIComponent(found[1])); } catch (e) { /* private mode */ }
    history.replaceState(null, "", location.pathname + location.search);
  }
  const client = new Vigie.Client(`ws://${location.host}/ws`, {clientName: "Pages de Vigie", storageKey: KEY});
  const stateEl = document.getElementById("state");
  const labels = {connecting: "connexion à Vigie…", pairing: "autorisation demandée dans Vigie…", open: "connecté",
                  closed: "Vigie injoignable, nouvel essai…", refused: "refusé"};
  client.addEventListener("state", (e) => {
    if (!stateEl) return;
    stateEl.textContent = labels[e.detail.state] + (e.detail.message ? ` : ${e.detail.message}` : "");
    stateEl.dataset.state = e.detail.state;
  });
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v); });
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "calcul en cours…";
    if (seconds < 60) return `moins d'une minute`;
    const minutes = Math.round(seconds / 60);
    return minutes < 60 ? `environ ${minutes} min` : `environ ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }
  client.connect();
  return {client, el, duration};
})();
