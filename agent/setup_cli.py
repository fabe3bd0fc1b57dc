"""`vigie setup`: the first-run set-up in the terminal, step by step, in French.

Each step's questions are asked with the current value as default (Entrée keeps it); the answers are
verified as soon as the step is complete and the step is asked again while there is a problem. A secret
is read without echo (getpass) and goes only to the keyring. At the end, `vigie doctor` runs on the file
just written.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from agent.plugins import PluginHost
from agent.setup_steps import SetupField, SetupSession, SetupStep, collect_steps, visible

MAX_TRIES = 5  # a step still wrong after this many tries is skipped (the user can run `vigie setup` again)


def _ask_field(f: SetupField, ask: Callable[[str], str], ask_secret: Callable[[str], str]) -> str:
    if f.kind == "secret":
        return ask_secret(f"{f.label} (masquée ; Entrée : inchangée) : ")
    hint = ""
    if f.kind == "choice":
        hint = " [" + " / ".join(f"{v} = {label}" if v != label else v for v, label in f.choices) + "]"
    default = f" (Entrée : {f.default})" if f.default else ""
    while True:
        answer = ask(f"{f.label}{hint}{default} : ").strip() or f.default
        if f.kind == "choice" and answer not in {v for v, _ in f.choices}:
            print(f"  Réponse attendue : {', '.join(v for v, _ in f.choices)}.")
            continue
        return answer


def run_step(session: SetupSession, step: SetupStep, ask: Callable[[str], str],
             ask_secret: Callable[[str], str]) -> bool:
    print(f"\n== {step.title} ==")
    if step.intro:
        print(step.intro)
    fields = step.fields(session.config())
    for attempt in range(MAX_TRIES):
        values: dict[str, str] = {}
        for f in fields:
            if f in visible(fields, values):
                if f.help and attempt == 0:
                    print(f"  ({f.help})")
                values[f.name] = _ask_field(f, ask, ask_secret)
        print("Vérification…", flush=True)
        problems = session.save(step.id, values)
        if not problems:
            print("  Vérifié et enregistré.")
            return True
        for p in problems:
            print(f"  Problème : {p}")
        print("  Reprenons cette étape.")
        fields = [SetupField(**{**f.__dict__, "default": values.get(f.name, f.default) if f.kind != "secret" else ""})
                  for f in fields]  # the answers just given become the defaults of the next try
    print(f"  Étape « {step.title} » laissée de côté : relancez « vigie setup » pour la reprendre.")
    return False


def main(config_path: Path | None, only: list[str] | None = None, *, host: PluginHost | None = None) -> int:
    from agent import doctor

    if host is None:
        host = PluginHost()
        host.load()
    from agent.setup_host import API_STEP

    steps = collect_steps(host)  # the plugins' steps; the host's own (CorePlugin) is registered by an Agent only
    steps = sorted([API_STEP, *(s for s in steps if s.id != API_STEP.id)], key=lambda s: (s.order, s.id))
    steps = [s for s in steps if not only or s.id in only]
    session = SetupSession(config_path, steps)
    print(f"Configuration de Vigie : {session.path}")
    print("Entrée garde la valeur proposée. Les secrets vont dans le trousseau du système, jamais dans le fichier.")
    done = [run_step(session, step, input, getpass.getpass) for step in steps]
    print(f"\n{sum(done)} étape(s) sur {len(steps)} enregistrée(s) dans {session.path}.")
    print("\nVérification de l'installation (vigie doctor) :", flush=True)
    status = doctor.main(session.path)
    sys.stdout.flush()
    return 1 if not all(done) else status
