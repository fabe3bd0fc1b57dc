/* Event log of the demo LGC: what Vigie pushes, newest first, one readable line each; the JSON on demand. */
"use strict";
(function () {
  const log = document.getElementById("event-log");
  const demo = window.demo;
  const KINDS = {vitale: "Vitale", cps: "CPS", cpe: "CPE", unknown: "inconnue"};
  const OUTCOMES = {pending: "en cours", found: "identité trouvée", not_found: "aucune identité",
                    several: "plusieurs identités", timeout: "pas de réponse", unavailable: "indisponible",
                    fault: "demande refusée", malformed: "réponse illisible", incomplete: "réponse incomplète",
                    card_missing: "attend la carte CPS"};
  // An event can arrive before identity.submit's answer names its patient: such lines are named afterwards.
  const unnamed = {};  // identity_id -> [render functions]
  demo.onRecordOpened(({identity_id}) => {
    (unnamed[identity_id] || []).forEach((fn) => fn());
    delete unnamed[identity_id];
  });
  const who = (id) => (id && (demo.patientName && demo.patientName(id))) || (id ? `identité ${id.slice(0, 8)}` : "");
  const SUMMARIES = {
    "card.inserted": (p) => `Carte ${KINDS[p.kind] || p.kind || ""} insérée (${p.reader})`,
    "card.removed": (p) => `Carte retirée (${p.reader})`,
    "card.read": (p) => `Carte Vitale lue : ${p.beneficiaries} bénéficiaire(s)`,
    "card.read_failed": (p) => `Lecture de carte impossible : ${p.message}`,
    "identity.updated": (p) => `${who(p.identity_id)} : ${demo.STATUS_LABELS[p.status] || p.status}` +
      (OUTCOMES[p.insi_outcome] ? ` — INSi : ${OUTCOMES[p.insi_outcome]}` : ""),
    "scan.received": (p) => `Code scanné (${p.kind})` + (p.identity_id ? ` : ${who(p.identity_id)}` : ""),
    "scan.rejected": (p) => `Code scanné refusé : ${p.message}`,
    "batch.progress": (p) => `Lot du jour : ${p.done} sur ${p.total}`,
    "prescription.created": (p) => `Ordonnance créée ${p.code_present ? "avec" : "sans"} code 2D`,
    "prescription.printed": (p) => p.state === "printed" ? "Ordonnance imprimée" : `Impression impossible : ${p.message}`,
    "document.validated": () => "Document validé : envoi au DMP et par MSSanté en arrière-plan",
    "pairing.requested": () => "Demande d'autorisation d'un logiciel",
    "acting_user.changed": (p) => `Utilisateur : ${(p.acting_user && p.acting_user.name) || "aucun"}`,
    "agent.status": () => "État de l'agent mis à jour",
  };
  window.demo.client.addEventListener("event", (e) => {
    const {method, params} = e.detail;
    const li = document.createElement("li");
    li.dataset.method = method;
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString("fr-FR");
    const text = document.createElement("span");
    text.className = "summary";
    const summarise = () => {
      try { text.textContent = (SUMMARIES[method] || (() => method))(params); } catch (err) { text.textContent = method; }
    };
    summarise();
    text.title = text.textContent;  // a long line is cut on screen; the whole sentence on hover
    if (params.identity_id && !(demo.patientName && demo.patientName(params.identity_id))) {
      (unnamed[params.identity_id] = unnamed[params.identity_id] || []).push(summarise);
    }
    const toggle = document.createElement("button");
    toggle.type = "button"; toggle.className = "json-toggle"; toggle.textContent = "JSON";
    toggle.setAttribute("aria-expanded", "false");
    const json = document.createElement("pre");
    json.hidden = true;
    json.textContent = `${method} ${JSON.stringify(params, null, 1)}`;
    toggle.addEventListener("click", () => {
      json.hidden = !json.hidden; toggle.setAttribute("aria-expanded", String(!json.hidden));
    });
    li.append(time, " ", text, " ", toggle, json);
    log.prepend(li);
    while (log.children.length > 200) log.lastChild.remove();
  });
})();
