/* The received MSSanté messages (mss.messages, the `received` list; receipts left out: they only move the sent
 * messages' states). Each row: date, sender, patient (from the CDA), document title, state (a refusal with its
 * French reason); "Ouvrir le PDF" (mss.get: the PDF attachments, base64) and "Marquer comme lu" (mss.mark_seen).
 * Reloads on `mss.message.received`. The tray entry "Messages MSSanté reçus (N non lus)" opens this page. */
"use strict";
(function () {
  const {client, el} = window.VigiePage;
  const $ = (id) => document.getElementById(id);
  const SHOWN = new Set(["document", "message"]);

  function say(text, kind) { const m = $("message"); m.hidden = !text; m.textContent = text || ""; m.className = `message ${kind || ""}`; }
  const two = (n) => String(n).padStart(2, "0");
  function when(epoch) {
    const d = new Date(epoch * 1000);
    return `${two(d.getDate())}/${two(d.getMonth() + 1)}/${d.getFullYear()} à ${two(d.getHours())} h ${two(d.getMinutes())}`;
  }
  function patient(p) {
    if (!p || !p.name) return "—";
    const b = p.birth_date || "";
    return b.length === 8 ? `${p.name}, né(e) le ${b.slice(6, 8)}/${b.slice(4, 6)}/${b.slice(0, 4)}` : p.name;
  }
  function title(m) {
    const titles = (m.documents || []).map((d) => d.title).filter(Boolean);
    return titles.length ? titles.join(", ") : (m.subject || "(sans objet)");
  }
  function state(m) {
    if (m.status === "refused") {
      return el("span", {class: "refused"}, el("strong", {}, m.seen ? "Refusé (lu)" : "Refusé"), " : ",
                m.reason || "raison inconnue");
    }
    const what = m.kind === "document" ? "Document reçu" : "Message reçu";
    return el("span", {class: m.seen ? "seen" : "unseen"}, m.seen ? `${what}, lu` : el("strong", {}, `${what}, non lu`));
  }

  async function openPdf(m, button) {
    button.disabled = true;
    try {
      const full = await client.call("mss.get", {inbox_id: m.inbox_id});
      const pdfs = full.attachments || [];
      if (!pdfs.length) { say("Ce message n'a pas de PDF à ouvrir.", "error"); return; }
      for (const p of pdfs) {
        const bytes = Uint8Array.from(atob(p.pdf), (c) => c.charCodeAt(0));
        const url = URL.createObjectURL(new Blob([bytes], {type: "application/pdf"}));
        const a = el("a", {href: url, download: p.filename || "document.pdf", target: "_blank", rel: "noopener"});
        document.body.append(a); a.click(); a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      }
      if (!m.seen) await markSeen(m);
    } catch (e) {
      say(e.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function markSeen(m) {
    try {
      await client.call("mss.mark_seen", {inbox_id: m.inbox_id});
    } catch (e) { say(e.message, "error"); return; }
    await load();
  }

  async function load() {
    let answer;
    try {
      answer = await client.call("mss.messages", {limit: 200});
    } catch (e) {
      $("inbox").hidden = true;
      say(e.code === -32004 || e.code === -32000 ? `Messagerie MSSanté indisponible : ${e.message}` : e.message, "error");
      return;
    }
    const all = (answer.received || []).filter((m) => SHOWN.has(m.kind));
    const rows = $("unseen").checked ? all.filter((m) => !m.seen) : all;
    const body = $("inbox").querySelector("tbody");
    body.innerHTML = "";
    for (const m of rows) {
      const actions = el("td", {class: "actions no-print"});
      if (m.status === "accepted" && m.kind === "document") {
        const open = el("button", {type: "button", class: "primary"}, "Ouvrir le PDF");
        open.addEventListener("click", () => openPdf(m, open));
        actions.append(open, " ");
      }
      if (!m.seen) {
        const seen = el("button", {type: "button"}, "Marquer comme lu");
        seen.addEventListener("click", () => markSeen(m));
        actions.append(seen);
      }
      body.append(el("tr", {"data-inbox-id": String(m.inbox_id), "data-message-id": m.message_id, "data-status": m.status},
                     el("td", {}, when(m.received_at)), el("td", {}, m.sender || "—"), el("td", {}, patient(m.patient)),
                     el("td", {}, title(m)), el("td", {}, state(m)), actions));
    }
    $("inbox").hidden = rows.length === 0;
    const unseen = all.filter((m) => !m.seen).length;
    const n = all.length;
    say(n === 0 ? "Aucun message reçu." : `${n} ${n === 1 ? "message reçu" : "messages reçus"}, ` +
        (unseen === 0 ? "tous lus." : `dont ${unseen} non ${unseen === 1 ? "lu" : "lus"}.`), "");
  }

  $("refresh").addEventListener("click", load);
  $("unseen").addEventListener("change", load);
  client.addEventListener("event", (e) => { if (e.detail.method === "mss.message.received") load(); });
  client.addEventListener("state", (e) => { if (e.detail.state === "open") load(); });
})();
