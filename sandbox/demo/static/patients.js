/* The day's patients of the demo LGC (test identities the INSi sandbox knows, one per kind of answer). */
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
  const list = document.getElementById("patient-list");
  for (const p of PATIENTS) {
    const name = `${p.traits.birth_name} ${p.traits.first_names.join(" ")}`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Ouvrir le dossier";
    button.setAttribute("aria-label", `Ouvrir le dossier de ${name}`);
    button.addEventListener("click", () => window.demo.openRecord(p).catch((e) => alert(e.message)));
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.innerHTML = "";
    who.append(name, document.createElement("br"));
    const badge = document.createElement("span"); badge.className = "badge"; badge.textContent = p.note;
    who.append(badge);
    li.append(who, button);
    list.append(li);
  }
})();
