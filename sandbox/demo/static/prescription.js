// Demo LGC: "Rédiger une ordonnance" (e-prescription plugin), a record-level section of the demo page
// (demo.js): a real form, as an LGC has, mounted in #prescription; its patient follows the opened record.
// Each input carries the JSON path of its field (data-field): the agent's per-field errors
// (`error.data.errors[{field, label, message}]`) are listed once, in French, and their inputs highlighted.
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
  const TYPES = [["medicine", "Médicament"], ["device", "Dispositif médical"], ["text", "Texte libre"]];
  const LINE_FIELDS = {  // [key, label, class] per line type, in form order
    medicine: [["name", "Médicament"], ["dosage", "Dosage"], ["form", "Forme"], ["posology", "Posologie", "wide"],
               ["duration", "Durée"], ["quantity", "Quantité"]],
    device: [["name", "Dispositif"], ["posology", "Utilisation", "wide"], ["duration", "Durée"], ["quantity", "Quantité"]],
    text: [["text", "Texte", "wide"]],
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v); });
    e.append(...children);
    return e;
  }
  function input(label, field, value, attrs) {
    const i = el("input", Object.assign({type: "text", "data-field": field}, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    return [el("label", {}, label + " ", i), i];
  }
  function select(label, field, options, value) {
    const s = el("select", {"data-field": field});
    options.forEach(([v, text]) => s.append(el("option", {value: v}, text)));
    s.value = value || options[0][0];
    return [el("label", {}, label + " ", s), s];
  }

  function lineEditor(list, item) {
    const box = el("div", {class: "line", role: "group"});
    const render = () => {
      const index = [...list.children].indexOf(box);
      box.setAttribute("aria-label", `Ligne ${index + 1}`);
      box.querySelectorAll("[data-key]").forEach((x) => { x.dataset.field = `items[${index}].${x.dataset.key}`; });
    };
    const [typeLabel, type] = select("Type de ligne", "", TYPES, item.type);
    type.dataset.key = "type";
    const fields = el("span", {});
    const draw = (current) => {
      fields.innerHTML = "";
      for (const [key, label, cls] of LINE_FIELDS[type.value]) {
        const [l, i] = input(label, "", current[key], {class: cls});
        i.dataset.key = key;
        fields.append(l);
      }
      if (type.value === "medicine") {
        const [rl, r] = input("Renouvellements", "", current.renewals || 0, {type: "number", min: "0", max: "12",
                                                                             class: "num"});
        r.dataset.key = "renewals";
        const [nl, n] = select("Non substituable", "", [["", "non"], ["MTE", "MTE"], ["EFG", "EFG"], ["CIF", "CIF"]],
                               current.non_substitutable || "");
        n.dataset.key = "non_substitutable";
        fields.append(rl, nl);
      }
      render();
    };
    const ald = el("input", {type: "checkbox", "data-key": "ald"});
    ald.checked = !!item.ald;
    const remove = el("button", {type: "button"}, "Retirer la ligne");
    remove.onclick = () => { box.remove(); [...list.children].forEach((c) => c.renumber()); };
    type.onchange = () => draw(read(box));
    box.append(typeLabel, fields, el("label", {}, ald, " ALD (affection de longue durée)"), " ", remove);
    box.renumber = render;
    list.append(box);
    draw(item);
    return box;
  }
  function read(box) {
    const item = {};
    box.querySelectorAll("[data-key]").forEach((x) => {
      const key = x.dataset.key;
      if (x.type === "checkbox") { if (x.checked) item[key] = true; return; }
      const v = x.value.trim();
      if (key === "renewals") { if (v && v !== "0") item[key] = Number(v); return; }
      if (v) item[key] = v;
    });
    return item;
  }
  const number = (v) => { const t = v.trim().replace(",", "."); return t ? Number(t) : undefined; };

  function mount(container, call) {
    if (!container || container.dataset.mounted) return;
    container.dataset.mounted = "1";
    container.classList.add("rx");
    container.append(el("h2", {}, "Ordonnance"));
    const open = el("button", {type: "button", "aria-expanded": "false"}, "Rédiger une ordonnance");
    container.append(open);
    const form = el("form", {hidden: "", novalidate: "", "aria-label": "Ordonnance"});

    const pr = SAMPLE.prescriber;
    const prescriber = el("fieldset", {}, el("legend", {}, "Prescripteur"));
    const P = {};
    for (const [key, label, attrs] of [["title", "Titre", {class: "num"}], ["first_name", "Prénom"], ["last_name", "Nom"],
      ["profession", "Profession"], ["specialty", "Spécialité"], ["rpps", "N° RPPS"], ["am_number", "N° AM"],
      ["address", "Adresse", {class: "wide"}], ["phone", "Téléphone"]]) {
      const value = key === "address" ? pr.address.join(", ") : pr[key];
      const [l, i] = input(label, `prescriber.${key}`, value, attrs);
      P[key] = i; prescriber.append(l);
    }
    const patient = el("fieldset", {}, el("legend", {}, "Patient"));
    const T = {};
    for (const [key, label, attrs] of [["birth_name", "Nom de naissance"], ["used_name", "Nom utilisé"],
      ["first_names", "Prénom(s)"], ["birth_date", "Date de naissance", {type: "date"}],
      ["weight_kg", "Poids (kg)", {class: "num", inputmode: "decimal"}],
      ["height_cm", "Taille (cm)", {class: "num", inputmode: "decimal"}]]) {
      const [l, i] = input(label, `patient.${key}`, SAMPLE.patient[key], attrs);
      T[key] = i; patient.append(l);
    }
    const [sexLabel, sex] = select("Sexe", "patient.sex", [["F", "Féminin"], ["M", "Masculin"]], SAMPLE.patient.sex);
    T.sex = sex; patient.append(sexLabel);

    const lines = el("div", {});
    SAMPLE.items.forEach((item) => lineEditor(lines, item));
    const add = (type, label) => {
      const b = el("button", {type: "button"}, label);
      b.onclick = () => { const box = lineEditor(lines, {type}); box.querySelector("input[data-key]").focus(); };
      return b;
    };
    const items = el("fieldset", {"data-field": "items"}, el("legend", {}, "Lignes de l'ordonnance"), lines,
                     add("medicine", "Ajouter un médicament"), " ", add("device", "Ajouter un dispositif"), " ",
                     add("text", "Ajouter un texte libre"));
    const comments = el("textarea", {rows: "2", cols: "70", "data-field": "comments"});
    comments.value = SAMPLE.comments;
    const [modeLabel, mode] = select("Téléservice (bac à sable)", "", [["ok", "répond OK (QR code)"],
      ["ko", "refuse (KO)"], ["timeout", "ne répond pas"]], "ok");
    const print = el("input", {type: "checkbox"});
    const go = el("button", {type: "submit"}, "Valider l'ordonnance");
    const result = el("div", {"aria-live": "polite", class: "result"});
    form.append(prescriber, patient, items, el("fieldset", {}, el("legend", {}, "Commentaires"), comments),
                modeLabel, " ", el("label", {}, print, " imprimer aussi"), " ", go, result);
    container.append(form);
    open.onclick = () => { form.hidden = !form.hidden; open.setAttribute("aria-expanded", String(!form.hidden)); };

    function collect() {
      const p = {};
      for (const [key, i] of Object.entries(P)) {
        const v = i.value.trim();
        if (!v) continue;
        p[key] = key === "address" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v;
      }
      const t = {sex: T.sex.value};
      for (const key of ["birth_name", "used_name", "first_names", "birth_date"]) {
        const v = T[key].value.trim(); if (v) t[key] = v;
      }
      for (const key of ["weight_kg", "height_cm"]) { const v = number(T[key].value); if (v !== undefined) t[key] = v; }
      if (form.dataset.identityId) t.identity_id = form.dataset.identityId;
      const rx = {prescriber: p, patient: t, items: [...lines.children].map(read)};
      if (comments.value.trim()) rx.comments = comments.value.trim();
      return rx;
    }
    function clearErrors() { form.querySelectorAll("[aria-invalid]").forEach((x) => x.removeAttribute("aria-invalid")); }
    function showErrors(e) {
      const errors = (e.data && e.data.errors) || [];
      if (!errors.length) { result.append(el("p", {class: "state ko"}, e.message || String(e))); return; }
      // Each problem once, by the field's French name; the summary sentence would repeat them.
      result.append(el("p", {class: "state ko"}, "Ordonnance incomplète ou invalide :"));
      const list = el("ul", {class: "errors"});
      errors.forEach((x) => list.append(el("li", {}, `${x.label || x.field} : ${x.message}`)));
      result.append(list);
      let first = null;
      for (const x of errors) {
        const target = form.querySelector(`[data-field="${CSS.escape(x.field)}"]`);
        if (target) { target.setAttribute("aria-invalid", "true"); first = first || target; }
      }
      if (first && first.focus) first.focus();
    }
    function actions(r) {
      const bytes = Uint8Array.from(atob(r.pdf), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], {type: "application/pdf"}));
      const link = el("a", {href: url, target: "_blank", download: `ordonnance-${r.prescription_id.slice(0, 8)}.pdf`},
                      "Ouvrir le PDF");
      const reprint = el("button", {type: "button"}, "Imprimer");
      const exported = el("button", {type: "button"}, "Exporter (PDF)");
      const note = el("p", {"aria-live": "polite"});
      reprint.onclick = async () => {
        try { const p = await call("prescription.print", {prescription_id: r.prescription_id});
              note.className = ""; note.textContent = `Imprimée (travail ${p.job})`; }
        catch (e) { note.className = "state ko"; note.textContent = e.message || String(e); }
      };
      // The agent writes into its configured export folder (an LGC never chooses where the agent writes).
      exported.onclick = async () => {
        try { const x = await call("prescription.export", {prescription_id: r.prescription_id, save: true});
              note.className = "state ok"; note.textContent = `Exportée : ${x.path}`; }
        catch (e) { note.className = "state ko"; note.textContent = e.message || String(e); }
      };
      result.append(link, " ", reprint, " ", exported, note);
    }
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      clearErrors();
      result.textContent = "Validation en cours…";
      go.disabled = true;
      try {
        // The stand-in's answer is chosen on the stand-in itself: prescription.create is the product's, unchanged.
        await call("sandbox.eprescription_mode", {mode: mode.value});
        const r = await call("prescription.create", {prescription: collect(), print: print.checked});
        result.innerHTML = "";
        result.append(el("p", {class: "state " + (r.code_present ? "ok" : "wait")}, r.code_present
          ? `Ordonnance numérique ${r.identifier} avec code 2D`
          : `Ordonnance sans code 2D : ${r.teleservice.reason}`));
        if (r.print && r.print.state) {
          result.append(el("p", {class: r.print.state === "printed" ? "" : "state ko"},
                           r.print.state === "printed" ? `QR code imprimé (travail ${r.print.job})` : r.print.message));
        }
        actions(r);
      } catch (e) {
        result.innerHTML = "";
        showErrors(e);
      } finally { go.disabled = false; }
    };
    container.setPatient = (traits, identityId) => {
      T.birth_name.value = traits.birth_name || ""; T.used_name.value = traits.used_name || "";
      T.first_names.value = [].concat(traits.first_names || []).join(" ");
      T.birth_date.value = traits.birth_date || ""; T.sex.value = traits.sex || "F";
      T.weight_kg.value = ""; T.height_cm.value = "";
      form.dataset.identityId = identityId || "";
    };
  }
  window.VigiePrescription = {mount, SAMPLE};
  // The opened record's patient replaces the sample's; its identity_id lets the agent add the INS to the
  // shared document when (and only when) that identity is qualified.
  const root = document.getElementById("prescription");
  mount(root, (method, params) => window.demo.client.call(method, params));
  window.demo.onRecordOpened(({patient, identity_id}) => root.setPatient(patient.traits, identity_id));
})();
