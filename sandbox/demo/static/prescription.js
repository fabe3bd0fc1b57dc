// Demo LGC: "Rédiger une ordonnance" (e-prescription plugin), a record-level section of the demo page
// (demo.js): mounted in #prescription, its patient follows the record the user opened.
"use strict";
(function () {
  const SAMPLE = {
    prescriber: {title: "Dr", last_name: "Durand", first_name: "Marie", profession: "Médecin",
      specialty: "Médecine générale", rpps: "10000123454", am_number: "751234567",
      address: ["12 rue des Lilas", "75011 Paris"], phone: "01 23 45 67 89"},
    patient: {birth_name: "Martin", used_name: "Leroy", first_names: "Claire", sex: "F", birth_date: "1984-06-15",
      weight_kg: 62},
    items: [
      {type: "medicine", name: "Paracétamol", dosage: "1 g", form: "comprimé",
        posology: "1 comprimé jusqu'à 3 fois par jour si douleur", duration: "5 jours"},
      {type: "medicine", name: "Lévothyroxine", dosage: "75 µg", form: "comprimé", posology: "1 comprimé le matin à jeun",
        duration: "3 mois", renewals: 2, non_substitutable: "MTE", ald: true},
      {type: "device", name: "Lecteur de glycémie", quantity: "1", ald: true},
      {type: "text", text: "Contrôle TSH dans 6 semaines."},
    ],
    comments: "Revoir en consultation si fièvre persistante.",
  };
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function mount(container, call) {
    if (!container || container.dataset.mounted) return;
    container.dataset.mounted = "1";
    container.appendChild(el("h2", {}, "Ordonnance"));
    const open = el("button", {type: "button"}, "Rédiger une ordonnance");
    container.appendChild(open);
    const form = el("div", {hidden: ""});
    const text = el("textarea", {rows: "14", cols: "90", spellcheck: "false"});
    text.value = JSON.stringify(SAMPLE, null, 2);
    const mode = el("select", {});
    [["ok", "Téléservice : répond OK (QR code)"], ["ko", "Téléservice : refuse (KO)"],
     ["timeout", "Téléservice : ne répond pas"]].forEach(([v, label]) => mode.appendChild(el("option", {value: v}, label)));
    const print = el("input", {type: "checkbox", id: "rx-print"});
    const go = el("button", {type: "button"}, "Valider l'ordonnance");
    const result = el("div", {"aria-live": "polite"});
    form.append(el("p", {}, "Ordonnance (JSON de prescription.create) :"), text, el("br"), mode, " ", print,
                el("label", {for: "rx-print"}, " imprimer aussi"), " ", go, result);
    container.appendChild(form);
    open.onclick = () => { form.hidden = !form.hidden; };
    go.onclick = async () => {
      result.textContent = "Validation en cours…";
      let prescription;
      try { prescription = JSON.parse(text.value); } catch (e) { result.textContent = "JSON invalide : " + e.message; return; }
      go.disabled = true;
      try {
        // The stand-in's answer is chosen on the stand-in itself: prescription.create is the product's, unchanged.
        await call("sandbox.eprescription_mode", {mode: mode.value});
        const r = await call("prescription.create", {prescription, print: print.checked});
        result.innerHTML = "";
        result.appendChild(el("p", {class: "state " + (r.code_present ? "ok" : "wait")}, r.code_present
          ? `Ordonnance numérique ${r.identifier} (QR code imprimé)`
          : `Ordonnance sans code 2D : ${r.teleservice.reason}`));
        if (r.print && r.print.state) {
          result.appendChild(el("p", {}, r.print.state === "printed" ? `Imprimée (travail ${r.print.job})` : r.print.message));
        }
        const bytes = Uint8Array.from(atob(r.pdf), (c) => c.charCodeAt(0));
        const url = URL.createObjectURL(new Blob([bytes], {type: "application/pdf"}));
        const link = el("a", {href: url, target: "_blank", download: `ordonnance-${r.prescription_id.slice(0, 8)}.pdf`},
                        "Ouvrir le PDF");
        const reprint = el("button", {type: "button"}, "Imprimer");
        reprint.onclick = async () => {
          try { const p = await call("prescription.print", {prescription_id: r.prescription_id});
                result.appendChild(el("p", {}, `Imprimée (travail ${p.job})`)); }
          catch (e) { result.appendChild(el("p", {class: "state ko"}, e.message || String(e))); }
        };
        result.append(link, " ", reprint);
      } catch (e) {
        result.innerHTML = "";
        result.appendChild(el("p", {class: "state ko"}, e.message || String(e)));
        const list = el("ul", {});
        ((e.data && e.data.errors) || []).forEach((x) => list.appendChild(el("li", {}, `${x.field} : ${x.message}`)));
        result.appendChild(list);
      } finally { go.disabled = false; }
    };
  }
  window.VigiePrescription = {mount, SAMPLE};
  // The opened record's patient replaces the sample's; its identity_id lets the agent add the INS to the
  // shared document when (and only when) that identity is qualified.
  const root = document.getElementById("prescription");
  mount(root, (method, params) => window.demo.client.call(method, params));
  window.demo.onRecordOpened(({patient, identity_id}) => {
    const text = root.querySelector("textarea");
    const rx = JSON.parse(text.value);
    const t = patient.traits;
    rx.patient = {birth_name: t.birth_name, first_names: [].concat(t.first_names).join(" "), sex: t.sex,
                  birth_date: t.birth_date, identity_id};
    text.value = JSON.stringify(rx, null, 2);
  });
})();
