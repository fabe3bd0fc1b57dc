/* Demo LGC core: one Vigie client for the page, and the "open the record" action other sections hook on.
 *   demo.client              the Vigie.Client (vigie.js)
 *   demo.openRecord(patient) identity.submit, then shows the qualification panel
 *   demo.onRecordOpened(fn)  fn({patient, identity_id}) after each opening (add record-level buttons there)
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
  const openedHooks = [];
  const panel = document.getElementById("panel");
  panel.client = client;
  panel.addEventListener("vigie-postponed", () => { document.getElementById("record").hidden = true; });

  async function openRecord(patient) {
    const {identity_id} = await client.call("identity.submit", {local_id: patient.local_id, traits: patient.traits});
    document.getElementById("record-name").textContent =
      `${patient.traits.birth_name} ${[].concat(patient.traits.first_names).join(" ")}`;
    document.getElementById("record").hidden = false;
    panel.identityId = identity_id;
    for (const fn of openedHooks) { try { fn({patient, identity_id}); } catch (e) { console.error(e); } }
    return identity_id;
  }

  client.connect();
  return {client, openRecord, onRecordOpened: (fn) => openedHooks.push(fn)};
})();
