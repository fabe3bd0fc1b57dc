/* The settings page (setup.steps / setup.verify / setup.save, admin scope): one form per set-up step the host
 * and the plugins contributed, each verified by the agent (certificate, endpoint...) before it is saved. */
"use strict";
(function () {
  const {client, el} = window.VigiePage;
  const $ = (id) => document.getElementById(id);

  function say(text, kind) { const m = $("message"); m.hidden = !text; m.textContent = text || ""; m.className = `message ${kind || ""}`; }

  function input(step, f) {
    const id = `${step.id}-${f.name}`;
    let control;
    if (f.kind === "choice") {
      control = el("select", {id, name: f.name}, ...f.choices.map((c) => el("option", {value: c.value, selected: c.value === f.default}, c.label)));
    } else {
      const type = f.kind === "secret" ? "password" : f.kind === "url" ? "url" : "text";
      control = el("input", {id, name: f.name, type, value: f.default, autocomplete: f.kind === "secret" ? "new-password" : "off",
                             placeholder: f.imported ? "fichier à importer (vide : celui déjà importé)"
                               : f.kind === "file" ? "chemin du fichier sur ce poste" : undefined, size: 60});
    }
    const row = el("p", {class: "field", "data-field": f.name}, el("label", {for: id}, f.label), " ", control,
                   f.help ? el("small", {class: "muted"}, ` ${f.help}`) : null);
    return {row, control};
  }

  function render(step) {
    const inputs = step.fields.map((f) => ({f, ...input(step, f)}));
    const result = el("div", {class: "result", role: "status", "data-step-result": step.id});
    const values = () => Object.fromEntries(inputs.filter((i) => !i.row.hidden).map((i) => [i.f.name, i.control.value]));
    const control = (name) => inputs.find((i) => i.f.name === name).control;
    const refresh = () => inputs.forEach((i) => { i.row.hidden = !!i.f.when && control(i.f.when.field).value !== i.f.when.value; });
    inputs.forEach((i) => i.control.addEventListener("change", refresh));
    const show = (problems, ok) => {
      result.innerHTML = "";
      result.className = `result ${problems.length ? "error" : "ok"}`;
      if (problems.length) result.append(el("ul", {}, ...problems.map((p) => el("li", {}, p))));
      else result.append(el("p", {}, ok));
    };
    const run = async (method, ok) => {
      result.className = "result"; result.textContent = "Vérification…";
      try {
        const r = await client.call(method, {step: step.id, values: values()});
        show(r.problems, ok);
        // Secrets and imported certificates are in the keyring now: the form keeps neither.
        if (r.saved) inputs.filter((i) => i.f.kind === "secret" || i.f.imported).forEach((i) => { i.control.value = ""; });
      } catch (e) {
        show([e.code === -32003 ? "Cette page s'ouvre depuis l'icône Vigie (menu « Paramètres de Vigie »)." : e.message], "");
      }
    };
    const form = el("form", {id: `step-${step.id}`, "aria-labelledby": `title-${step.id}`},
                    el("h2", {id: `title-${step.id}`}, step.title), step.intro ? el("p", {class: "muted"}, step.intro) : null,
                    ...inputs.map((i) => i.row),
                    el("p", {}, el("button", {type: "button", class: "verify"}, "Vérifier"), " ",
                       el("button", {type: "submit"}, "Enregistrer")), result);
    form.querySelector(".verify").addEventListener("click", () => run("setup.verify", "Tout est vérifié."));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); run("setup.save", "Vérifié et enregistré. Vigie utilisera ces réglages à son prochain démarrage."); });
    refresh();
    return form;
  }

  async function load() {
    let data;
    try { data = await client.call("setup.steps", {}); } catch (e) {
      say(e.code === -32003 ? "Cette page s'ouvre depuis l'icône Vigie (menu « Paramètres de Vigie »)." : e.message, "error");
      return;
    }
    say("", "");
    $("steps").replaceChildren(...data.steps.map(render));
    $("file").textContent = `Fichier de configuration : ${data.config_file}`;
  }
  client.addEventListener("state", (e) => { if (e.detail.state === "open") load(); });
})();
