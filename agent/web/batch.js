/* The start-of-day batch page: choose the day's list, follow its progress (identity.batch_status, refreshed
 * at each batch.progress event), see the lines that need a look. Reopened later, it shows the latest batch. */
"use strict";
(function () {
  const {client, el, duration} = window.VigiePage;
  const $ = (id) => document.getElementById(id);
  const fileInput = $("file"), start = $("start"), message = $("choose-message");
  let current = null;  // the batch shown
  let refreshing = false, again = false;

  function say(text, kind) {
    message.hidden = !text; message.textContent = text || ""; message.className = `message ${kind || ""}`;
  }
  function birth(iso) { return iso && iso.length === 10 ? `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}` : ""; }

  function show(status) {
    const conf = status.configured_file;
    $("configured").hidden = !conf;
    $("configured-name").textContent = conf || "";
    const b = status.batch;
    $("none").hidden = !!b; $("progress-box").hidden = !b;
    if (!b) return;
    current = b.batch_id;
    $("batch-name").textContent = `Liste : ${b.name || "envoyée par le logiciel"} — lancée à ` +
      new Date(b.created_at * 1000).toLocaleTimeString("fr-FR", {hour: "2-digit", minute: "2-digit"});
    const bar = $("bar");
    bar.max = Math.max(b.total, 1); bar.value = b.done;
    $("progress-text").textContent = b.finished
      ? `Terminé : ${b.total} patient(s) traité(s).`
      : `${b.done} sur ${b.total} patient(s) traité(s)…`;
    $("count-found").textContent = b.found;
    $("count-to-complete").textContent = b.to_complete;
    $("count-errors").textContent = b.errors;
    $("remaining").textContent = b.finished ? "aucun" : duration(b.remaining_seconds);
    const body = $("lines").querySelector("tbody");
    body.innerHTML = "";
    for (const line of b.lines) {
      body.append(el("tr", {"data-state": line.state}, el("td", {}, line.patient || ""), el("td", {}, birth(line.birth_date)),
                     el("td", {}, line.label), el("td", {}, line.message)));
    }
    $("lines").hidden = b.lines.length === 0;
  }

  async function refresh(batchId) {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try { show(await client.call("identity.batch_status", batchId ? {batch_id: batchId} : {})); }
    catch (e) { say(e.message, "error"); }
    finally { refreshing = false; if (again) { again = false; refresh(current); } }
  }

  async function launch(call) {
    start.disabled = true; $("use-configured").disabled = true;
    say("Lancement…", "");
    try {
      const r = await call();
      const refused = r.rejected && r.rejected.length ? ` ; ${r.rejected.length} ligne(s) refusée(s) (voir ci-dessous)` : "";
      say(`Lot lancé : ${r.total} patient(s), dont ${r.queued} à interroger${refused}.`, "ok");
      current = r.batch_id;
      await refresh(r.batch_id);
    } catch (e) { say(e.message, "error"); }
    finally { start.disabled = !fileInput.files.length; $("use-configured").disabled = false; }
  }

  fileInput.addEventListener("change", () => {
    start.disabled = !fileInput.files.length; say("");
    $("file-name").textContent = fileInput.files.length ? fileInput.files[0].name : "aucun fichier choisi";
  });
  $("pick").addEventListener("click", () => fileInput.click());
  $("choose").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = fileInput.files[0];
    if (!file) return;
    if (file.size > 900000) { say("Fichier trop gros pour un lot (900 Ko au plus) : coupez-le en plusieurs.", "error"); return; }
    launch(async () => client.call("identity.batch_csv", {csv: await file.text(), name: file.name}));
  });
  $("use-configured").addEventListener("click", () => launch(() => client.call("identity.batch_file", {})));
  client.on("batch.progress", (p) => { if (!current || p.batch_id === current) refresh(p.batch_id); });
  client.addEventListener("state", (e) => { if (e.detail.state === "open") refresh(current); });
  // The remaining time moves even between answers (a slow INSi): a gentle refresh while a batch runs.
  setInterval(() => { if (current && client.state === "open" && !$("progress-box").hidden &&
                          !$("progress-text").textContent.startsWith("Terminé")) refresh(current); }, 5000);
})();
