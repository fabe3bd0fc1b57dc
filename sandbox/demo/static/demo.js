/* Demo LGC core: one Vigie client for the page, and the "open the record" action other sections hook on.
 *   demo.client              the Vigie.Client (vigie.js); its token is kept in localStorage, so a browser
 *                            pairs once, not at each page load
 *   demo.openRecord(patient) identity.submit, then shows the qualification panel
 *   demo.onRecordOpened(fn)  fn({patient, identity_id}) after each opening (add record-level buttons there)
 *   demo.identities          local_id -> identity_id of the records opened in this browser (kept across loads)
 *   demo.STATUS_LABELS       the French name of each identity status, for badges and the event log
 */
"use strict";
window.demo = (function () {
  const stateEl = document.getElementById("state");
  const client = new Vigie.Client(window.VIGIE_WS_URL, {clientName: "LGC de démonstration",
                                                       storageKey: "vigie-demo-token"});
  const labels = {connecting: ["connexion…", "wait"], pairing: ["demande d'autorisation envoyée à Vigie…", "wait"],
                  open: ["connecté", "ok"], closed: ["déconnecté, nouvel essai…", "ko"], refused: ["refusé", "ko"]};
  client.addEventListener("state", (e) => {
    const [text, cls] = labels[e.detail.state] || [e.detail.state, "wait"];
    stateEl.textContent = e.detail.message ? `${text} : ${e.detail.message}` : text;
    stateEl.className = "state " + cls;
  });
  const STATUS_LABELS = {PROV: "Provisoire", RECUP: "Récupérée (INSi)", VALI: "Validée (document)", QUAL: "Qualifiée"};
  const KEY = "vigie-demo-identities";
  let identities = {};
  try { identities = JSON.parse(localStorage.getItem(KEY) || "{}"); } catch (e) { identities = {}; }
  function remember(localId, identityId) {
    identities[localId] = identityId;
    try { localStorage.setItem(KEY, JSON.stringify(identities)); } catch (e) { /* private mode */ }
  }

  const openedHooks = [];
  const panel = document.getElementById("panel");
  const later = document.getElementById("panel-later");
  panel.client = client;
  // "Plus tard" puts the qualification aside; the record (and its ordonnance) stays open.
  panel.addEventListener("vigie-postponed", () => { panel.hidden = true; later.hidden = false; });
  document.getElementById("panel-show").addEventListener("click", () => {
    panel.hidden = false; later.hidden = true; panel.focus && panel.focus();
  });

  async function openRecord(patient) {
    const {identity_id} = await client.call("identity.submit", {local_id: patient.local_id, traits: patient.traits});
    remember(patient.local_id, identity_id);
    document.getElementById("record-name").textContent =
      `${patient.traits.birth_name} ${[].concat(patient.traits.first_names).join(" ")}`;
    document.getElementById("record").hidden = false;
    panel.hidden = false; later.hidden = true;
    panel.identityId = identity_id;
    for (const fn of openedHooks) { try { fn({patient, identity_id}); } catch (e) { console.error(e); } }
    return identity_id;
  }

  client.connect();
  return {client, openRecord, onRecordOpened: (fn) => openedHooks.push(fn), identities, STATUS_LABELS};
})();
