/* The day's patients of the demo LGC (test identities the INSi sandbox knows, one per kind of answer). Each
 * line's badge follows its identity's status: from identity.get when the page (re)connects, then from the
 * identity.updated events Vigie pushes. */
"use strict";
(function () {
  const PATIENTS = [
    {local_id: "demo-1", note: "trouvée, traits identiques",
     traits: {birth_name: "ADRTROIS", first_names: ["DOMINIQUE"], sex: "F", birth_date: "1997-02-26"}},
    {local_id: "demo-2", note: "trouvée, prénoms à compléter",
     traits: {birth_name: "TCHITCHI", first_names: ["CATARINA"], sex: "F", birth_date: "1936-06-21"}},
    {local_id: "demo-3", note: "plusieurs identités",
     traits: {birth_name: "DE VINCI", first_names: ["LEONARDO"], sex: "M", birth_date: "2014-02-01"}},
    {local_id: "demo-4", note: "aucune identité",
     traits: {birth_name: "HOUILLES", first_names: ["PIERRE", "PAUL", "JACQUES"], sex: "M", birth_date: "1993-01-27"}},
  ];
  const demo = window.demo;
  const OUTCOMES = {pending: "INSi en cours…", not_found: "aucune identité INSi", several: "plusieurs identités INSi",
                    timeout: "INSi sans réponse", unavailable: "INSi indisponible", fault: "INSi a refusé"};
  const list = document.getElementById("patient-list");
  const badgeOf = (identityId) => {
    const p = PATIENTS.find((x) => demo.identities[x.local_id] === identityId);
    return p ? p.badge : null;
  };

  function show(badge, status, outcome) {
    const label = demo.STATUS_LABELS[status] || status;
    badge.dataset.status = status;
    badge.textContent = OUTCOMES[outcome] && status !== "QUAL" ? `${label} — ${OUTCOMES[outcome]}` : label;
  }

  for (const p of PATIENTS) {
    const name = `${p.traits.birth_name} ${p.traits.first_names.join(" ")}`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Ouvrir le dossier";
    button.setAttribute("aria-label", `Ouvrir le dossier de ${name}`);
    const li = document.createElement("li");
    li.dataset.localId = p.local_id;
    const who = document.createElement("span");
    const note = document.createElement("span"); note.className = "note"; note.textContent = p.note;
    const badge = document.createElement("span"); badge.className = "badge"; badge.dataset.status = "none";
    badge.textContent = "dossier non ouvert";
    badge.setAttribute("aria-label", `Statut de l'identité de ${name}`);
    who.append(name, " ", badge, document.createElement("br"), note);
    button.addEventListener("click", () => window.demo.openRecord(p).catch((e) => alert(e.message)));
    li.append(who, button);
    list.append(li);
    p.badge = badge;
  }
  demo.patientName = (identityId) => {
    const p = PATIENTS.find((x) => demo.identities[x.local_id] === identityId);
    return p ? `${p.traits.birth_name} ${p.traits.first_names.join(" ")}` : null;
  };
  demo.client.on("identity.updated", (e) => {
    const badge = badgeOf(e.identity_id);
    if (badge) show(badge, e.status, e.insi_outcome);
  });
  // At each (re)connection: the records this browser opened before show their current status.
  demo.client.addEventListener("state", async (e) => {
    if (e.detail.state !== "open") return;
    for (const p of PATIENTS) {
      const id = demo.identities[p.local_id];
      if (!id) continue;
      try {
        const got = await demo.client.call("identity.get", {identity_id: id});
        show(p.badge, got.status, got.insi && got.insi.outcome);
      } catch (err) { /* forgotten by the agent (a new sandbox profile): stays "non ouvert" */ }
    }
  });
})();
