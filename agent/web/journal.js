/* The journal of qualifications (identity.journal, admin scope): one day, filterable, printable (print CSS in
 * pages.css), exported as the CSV the agent builds (`;`, UTF-8 with BOM) for the identitovigilance referent. */
"use strict";
(function () {
  const {client, el} = window.VigiePage;
  const $ = (id) => document.getElementById(id);
  let last = null;
  const today = new Date();
  $("day").value = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;

  function say(text, kind) { const m = $("message"); m.hidden = !text; m.textContent = text || ""; m.className = `message ${kind || ""}`; }

  async function load() {
    const day = $("day").value;
    if (!day) { say("Choisissez un jour.", "error"); return; }
    try {
      last = await client.call("identity.journal", {day, only_qualifications: $("only").checked});
    } catch (e) {
      last = null; $("journal").hidden = true; $("export").disabled = true;
      say(e.code === -32003 ? "Ce journal s'ouvre depuis l'icône Vigie (menu « Journal des qualifications »)." : e.message, "error");
      return;
    }
    const [y, m, d] = day.split("-");
    $("title").textContent = `${$("only").checked ? "Qualifications" : "Journal"} du ${d}/${m}/${y}`;
    const body = $("journal").querySelector("tbody");
    body.innerHTML = "";
    for (const e of last.entries) {
      const status = e.status_before && e.status_after && e.status_before !== e.status_after
        ? `${e.status_before} → ${e.status_after}` : e.status_after;
      body.append(el("tr", {"data-action": e.action}, el("td", {}, e.time), el("td", {}, e.patient),
                     el("td", {}, e.birth_date), el("td", {}, e.ins || ""), el("td", {}, e.action_label),
                     el("td", {}, e.method), el("td", {}, status), el("td", {}, e.by)));
    }
    $("journal").hidden = last.entries.length === 0;
    $("export").disabled = last.entries.length === 0;
    say(last.entries.length ? `${last.entries.length} entrée(s).` : "Aucune entrée ce jour-là.", "");
  }

  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("only").addEventListener("change", load);
  $("print").addEventListener("click", () => window.print());
  $("export").addEventListener("click", () => {
    if (!last) return;
    const url = URL.createObjectURL(new Blob([last.csv], {type: "text/csv;charset=utf-8"}));
    const a = el("a", {href: url, download: last.filename});
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  client.addEventListener("state", (e) => { if (e.detail.state === "open") load(); });
})();
