"""Every hook a Vigie plugin can implement. One place, typed, documented (docs/plugin_hooks.md).

Three families, each with its own rules (enforced by `agent.plugins.PluginHost.register`):

1. **Registration** (`register_*`): plain `def`, called once at startup with a `register` callable;
   the host validates each registration and refuses duplicates.
2. **Decisions** (`firstresult=True`): plain `def`, pure, no I/O; the first non-None answer wins.
   An `async def` implementation is refused at registration (a coroutine object is never None, so
   it would always "win" without being awaited).
3. **Notifications**: may be `async def`; called through `agent.hookcall.call_each`, which runs every
   implementation even when one raises, logs the plugin's name and marks it degraded.

`startup` and `shutdown` are notifications the host calls plugin by plugin (in registration order,
then reversed) so that one plugin raising `PluginNotReady` is degraded and retried alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import argparse
    import sqlite3

    from agent.acting import ActingUser
    from agent.app import Agent
    from agent.context import PluginContext
    from agent.doctor import DoctorCheck
    from agent.documents import ValidatedDocument
    from agent.outbox import Job
    from agent.pairing import PairingRequest
    from agent.prompts import PinRequest
    from agent.rpc import RpcContext
    from agent.setup_steps import SetupStep
    from hardware.ports import VitaleCard

PROJECT = "vigie"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RpcHandler = Callable[[dict[str, Any], "RpcContext"], Awaitable[Any]]
JobHandler = Callable[["Job"], Awaitable[None]]
StatusProvider = Callable[[], Mapping[str, Any]]


class RpcRegister(Protocol):
    def __call__(
        self,
        name: str,
        handler: RpcHandler,
        *,
        params: Mapping[str, Any] | None = None,
        scope: str = "lgc",
        description: str = "",
    ) -> None: ...


class OutboxRegister(Protocol):
    def __call__(
        self,
        name: str,
        handler: JobHandler,
        *,
        concurrency: int = 1,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
    ) -> None: ...


class MigrationRegister(Protocol):
    def __call__(
        self, namespace: str, version: int, migration: str | Callable[[sqlite3.Connection], None]
    ) -> None: ...


class StatusRegister(Protocol):
    def __call__(self, name: str, provider: StatusProvider) -> None: ...


class CliRegister(Protocol):
    def __call__(
        self,
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace], int],
    ) -> None: ...


class TrayRegister(Protocol):
    def __call__(self, label: str, action: Callable[[], Awaitable[Any]], *, section: str = "main",
                 detail: Callable[[], str | None] | None = None) -> None: ...


PanelView = Callable[[str], Awaitable[Mapping[str, Any] | None]]


class PanelRegister(Protocol):
    def __call__(
        self,
        kind: str,
        *,
        view: PanelView,
        renderer: str,
        title: str,
        queue_label: str,
        methods: tuple[str, ...] = (),
    ) -> None: ...


class TrayBadge(Protocol):
    """What a badge provider returns: `count` things waiting, said by `label` (French, plural form), and
    whether they need the user (`attention`: the icon turns orange) or only wait (`hint` says for what)."""

    count: int
    label: str
    attention: bool
    hint: str | None


class BadgeRegister(Protocol):
    def __call__(self, name: str, provider: Callable[[], TrayBadge | None]) -> None: ...


# ---------------------------------------------------------------- 1. registration (sync, once)


@hookspec
def register_rpc_methods(register: RpcRegister) -> None:
    """Add local-API methods. `register(name, handler, params=JSON schema, scope="lgc"|"admin")`.

    `name` is `<noun>.<verb>`, or `<plugin>.<noun>.<verb>` in this plugin's own namespace;
    `handler(params, ctx)` is `async` and returns a JSON-serialisable result or raises `UserFacingError` (its
    French message goes to the LGC). Params are validated against the schema before the handler runs. Every
    method must be documented in docs/local-api.md (a test checks it).

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_outbox_handlers(register: OutboxRegister) -> None:
    """Add durable background job handlers: `register(name, handler, concurrency=1, ...)`.

    `handler(job)` is `async`; returning means done, raising retries with exponential backoff and
    jitter, raising `PermanentJobError` (or exhausting `max_attempts`) moves the job to the dead
    letter. Delivery is at least once: a job running when the process died runs again, so the
    handler must make its effect idempotent with `job.key`.

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_migrations(register: MigrationRegister) -> None:
    """Add versioned SQLite migrations: `register(namespace, version, sql_or_callable)`.

    Each plugin uses its own namespace (its name); versions start at 1 and are applied in order,
    once, each in its own transaction, before any plugin starts.

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_status_providers(register: StatusRegister) -> None:
    """Add to `agent.info`: `register(name, provider)`; `provider()` is sync, fast and returns a
    mapping with optional keys `readers` (list) and `services` (name -> status dict).

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_cli_commands(register: CliRegister) -> None:
    """Add `vigie <name>` subcommands: `register(name, help, configure(parser), run(args) -> int)`.

    Commands that act on a running agent go through the local API (`agent.client`).

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_tray_items(register: TrayRegister) -> None:
    """Add entries to the tray menu: `register(label, action, section="main"|"sandbox", detail=None)`.

    `label` is French and unique within its section; `action()` is `async` and runs on the agent's
    loop (the tray thread hands it over, it never waits for it); a `UserFacingError` it raises is
    shown to the user. The `sandbox` section belongs to the sandbox's plugins (`sandbox/*/plugin.py`,
    registered only under `vigie run --sandbox`), e.g. "Insérer une carte Vitale de test". `detail()`, when
    given, is sync and fast (called at each tray refresh): its French text, when not None, is shown after the
    label, e.g. "Messages MSSanté reçus (2 non lus)".

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_setup_steps(register: Callable[[SetupStep], None]) -> None:
    """Contribute first-run set-up steps (`vigie setup`, the settings page): `register(step)`.

    A `agent.setup_steps.SetupStep` has an `id`, a French `title`, `fields(config)` (the questions, the
    current configuration's values as defaults, never a secret's value), `verify(values)` returning French
    problems (checks as entered: certificate dates and subject, an endpoint reachable within a short
    timeout...) and `apply(values)` returning a `SetupChanges` (a patch of the TOML file, keyring secrets).
    `verify` and `apply` may block; callers on the event loop run them in a thread. Keep the step's logic
    in the plugin's own module (e.g. `plugins/ins/setup.py`), not in `plugin.py`.

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_doctor_checks(register: Callable[[DoctorCheck], None]) -> None:
    """Contribute `vigie doctor` rows for a capability: `register(check)`.

    An `agent.doctor.DoctorCheck` has a `name` and `run(context)` returning `agent.doctor.Check` rows
    (French name, level `ok`/`attention`/`échec`, French detail): configured or not, the certificate in the
    keyring opened by its passphrase and within its dates, the endpoint reachable (TCP and TLS with the
    configured CAs, a short timeout). `context` (`agent.doctor.DoctorContext`) has the `config`, the
    `secrets` (None when the keyring holding them is a running agent's own, the sandbox's memory keyring:
    then say what that agent reports, `context.agent_says(plugin)`, rather than fail). `run` blocks; the doctor
    runs every check in its own thread. Any `échec` row makes `vigie doctor` exit 1. Keep the logic in the
    plugin's own module (e.g. `plugins/ins/doctor.py`).

    :param register: the registration callable, bound to this plugin (the host knows who registered what).
    """


@hookspec
def register_ui_panels(register: PanelRegister) -> None:
    """Contribute a kind of panel to the host's popup (and its queue count to the tray).

    `register(kind, *, view, renderer, title, queue_label, methods=())`:
    - `view(key)` (async) returns the panel's view model (a JSON-safe dict), or None when the item is gone;
    - `renderer` is `"module:Class"`, imported in the popup process (tkinter), built as
      `Class(master, host)` and asked to `render(view)` (see agent/popup/__init__.py);
    - `title` heads one item in the popup ("Identité à qualifier" → "Identité à qualifier 1 sur 3");
    - `queue_label` names the queued items in the tray ("Qualifications en attente");
    - when an item changes, the plugin emits `panel_changed(kind, key)`: the host asks `view(key)` again,
      then `popup_offer` whether to show it;
    - `methods`: the local-API methods the renderer may call from the popup (an allow-list).
    Keys are unique across kinds (use UUIDs). No domain rule lives in the host: it only queues and shows.

    :param register: the host's `PanelRegister`, bound to the calling plugin.
    """


@hookspec
def register_tray_badges(register: BadgeRegister) -> None:
    """Add a count to the tray: `register(name, provider)`; `provider()` is sync and fast (called at each
    tray refresh) and returns a `TrayBadge`-shaped object (`count`, `label`, `attention`, `hint`) or None.
    Shown as "label (count)" with its hint in the menu and in the tooltip when `count` > 0.

    :param register: the host's `BadgeRegister`, bound to the calling plugin.
    """


# ---------------------------------------------------------------- 2. decisions (firstresult, pure)


@hookspec(firstresult=True)
def popup_offer(kind: str, view: Mapping[str, Any]) -> str | None:
    """Should the popup come up for this panel view? `raise` (show it now), `queue` (list it, count it in
    the tray, do not interrupt), `drop` (nothing left to do: take it out of the queue) or `wait` (not yet:
    leave the queue as it is). None when the plugin does not own `kind`; nobody answering means `queue`.

    Stops at first non-None result.

    :param kind: the panel kind (`register_ui_panels`); answer only for your own.
    :param view: the view model the kind's `view(key)` returned.
    """


@hookspec(firstresult=True)
def pairing_policy(client_name: str, origin: str | None) -> bool | None:
    """Decide a pairing request without asking the user: True accept, False refuse, None ask.

    Pure: look only at the arguments and the plugin's own configuration.

    Stops at first non-None result.

    :param client_name: the name the LGC gave when it asked to pair.
    :param origin: the browser origin of the request, None for a native client.
    """


@hookspec(firstresult=True)
def classify_card(atr: str) -> str | None:
    """Name the kind of card an ATR (uppercase hex, no spaces) belongs to: `vitale`, `cps` (CPS/CPE
    family), or a plugin's own kind; None when the plugin does not know it (`unknown` if nobody does).

    An ATR is only a hint: the card layer confirms a Vitale card by selecting its application.

    Stops at first non-None result.

    :param atr: the card's answer-to-reset, uppercase hex without spaces.
    """


@hookspec(firstresult=True)
def parse_scan(data: bytes) -> Mapping[str, Any] | None:
    """Recognise a scanned code (raw bytes as the scanner or the image decoder gave them).

    Return None when the code is not this plugin's; otherwise `{"kind": str, "content": {...}}` when it
    parses, or `{"kind": str, "errors": [{"field": str, "message": str (French)}]}` when it is one of
    the plugin's codes but damaged: a damaged code is refused, never guessed.

    Stops at first non-None result.

    :param data: the scanned bytes, as the scanner or the image decoder produced them.
    """


@hookspec(firstresult=True)
def document_type_code(document: ValidatedDocument) -> str | None:
    """The XDS typeCode (a JDV_J66 code, e.g. `57833-6`) of a validated document, chosen without the
    user: e.g. the DMP plugin says an e-prescription is a prescription of health products. None when the
    plugin does not know this kind of document (the producer's `document.type_code` then applies).
    Pure: look only at the document. The DMP and MSSanté senders refuse a code outside JDV_J66.

    Stops at first non-None result.

    :param document: the `agent.documents.ValidatedDocument` (its `source_plugin`, its `metadata`).
    """


# ---------------------------------------------------------------- 3. notifications


@hookspec
def startup(context: PluginContext, agent: Agent) -> None:
    """Start the plugin's own resources (may be `async`). Raise `PluginNotReady` when a dependency
    is missing for now: the plugin is marked degraded and retried with backoff.

    :param context: what the host offers this plugin (agent/context.py): its settings and ports.
    :param agent: the whole host, for the host's own shell only (`agent.ui`: the popup and tray drive
        the RPC registry, pairing and `agent.info`); capability plugins take `context` (a test checks it).
    """


@hookspec
def shutdown(context: PluginContext, agent: Agent) -> None:
    """Release what `startup` acquired (may be `async`); called in reverse registration order and
    only for plugins whose startup succeeded.

    :param context: the same `PluginContext` `startup` received.
    :param agent: the host's own shell only (see `startup`).
    """


@hookspec
def agent_started(context: PluginContext) -> None:
    """The agent is up: the store is open, the local API listens, every plugin has started.

    :param context: this plugin's `PluginContext`.
    """


@hookspec
def agent_stopping(context: PluginContext) -> None:
    """The agent is about to stop (SIGINT/SIGTERM, tray Quit); keep it short: the whole stop has 2 s.

    :param context: this plugin's `PluginContext`.
    """


@hookspec
def pairing_requested(request: PairingRequest) -> None:
    """An LGC asks to pair: show `request.prompt` ("Autoriser <origin> (se présente comme
    « <client> ») à utiliser Vigie ?") and call `request.accept()` or `request.refuse()`. Must not
    block; the LGC's socket waits.

    Emitted through `agent.emitter` (hook first, then the `pairing.requested` event).

    :param request: the pending `agent.pairing.PairingRequest` (`client_name`, `origin`, `prompt`).
    """


@hookspec
def panel_changed(kind: str, key: str) -> None:
    """An item of a panel kind changed (`register_ui_panels`): the `ui` plugin asks the kind's `view(key)`
    again and the owner's `popup_offer` whether to show it. Emit it through the emitter (no LGC event).

    :param kind: the panel kind the emitting plugin registered (e.g. `identity`); a kind no panel has only
        redraws the tray (e.g. `mss.inbox`: the count of its "Messages MSSanté reçus" entry moved).
    :param key: the item's key (e.g. the identity's id).
    """


@hookspec
def user_notice(text: str, level: str, topic: str) -> None:
    """A short French notice for the person at the workstation (a card inserted and what it allows, an
    unknown card, a wrong PIN, a scan of a patient already qualified): shown without taking the keyboard
    (popup, tray). Emit it with `agent.panels.notify_user` (through the emitter: the `agent.notice` event
    follows). No personal data beyond what the user sees.

    :param text: the French sentence, with what to do next when there is something to do.
    :param level: `info`, `ok`, `warning` or `error`.
    :param topic: a stable code for LGCs that filter (`card.cps`, `card.unknown`, `scan.rejected`, ...).
    """


@hookspec
def outbox_job_dead(job: Job) -> None:
    """A background job failed permanently (dead letter): tell the user (tray, popup).

    :param job: the dead `agent.outbox.Job` (`handler`, `key`, `attempts`, `last_error`).
    """


@hookspec
def plugin_status_changed(name: str, status: str, reason: str | None) -> None:
    """A plugin became `ok`, `degraded` or `disabled` (for the tray icon and `agent.status`).

    :param name: the plugin's registered name.
    :param status: `ok`, `degraded` or `disabled`.
    :param reason: why, in French, or None when ok.
    """


@hookspec
def vitale_card_read(reader: str, card: VitaleCard) -> None:
    """A Vitale card was read in `reader` (from the card layer): each beneficiary may be looked up in
    INSi. Return at once; slow work goes to the outbox or a background task.

    Emitted through `agent.emitter` (hook first, then the `card.read` event).

    :param reader: the PC/SC reader name.
    :param card: the `hardware.ports.VitaleCard` read (its beneficiaries).
    """


@hookspec
def scan_received(kind: str, content: Mapping[str, Any], source: str) -> Mapping[str, Any] | None:
    """A scanner code was recognised (`parse_scan`) and parsed. `kind` names the code (for instance
    `ins_datamatrix`, whose `content` holds `birth_name`, `first_names` (list), `sex`, `birth_date`
    (`AAAA-MM-JJ`), `birth_place`, `matricule` (15 characters with key) and `oid`); `source` says where it
    came from (`lgc`, `popup`, `serial`, `hid`, `image`, ...). Return at once. A plugin that acted on the
    scan may return `{"identity_id", "status"}` (or `{"message"}`, French, when it could not): the scanner
    passes it on to whoever submitted the scan (`scan.submit`) and in the `scan.received` event.

    Emitted through `agent.emitter` (hook first, then the `scan.received` event).

    :param kind: the code's kind as `parse_scan` named it.
    :param content: the parsed content (personal data: never log it).
    :param source: where the scan came from.
    """


@hookspec
def reader_added(reader: str) -> None:
    """A card reader appeared (PC/SC name). Return at once.

    :param reader: the PC/SC reader name.
    """


@hookspec
def reader_removed(reader: str) -> None:
    """A card reader disappeared (unplugged, or the PC/SC service went away).

    :param reader: the PC/SC reader name.
    """


@hookspec
def card_service_changed(available: bool, reason: str | None) -> None:
    """The PC/SC service was lost (`available=False`, e.g. pcscd restarted, Windows SCardSvr stopped)
    or restored. While lost, readers are reported removed; they come back with `reader_added`.

    Emitted through `agent.emitter` (hook first, then the `card.service_changed` event).

    :param available: True when PC/SC is back, False when it was lost.
    :param reason: why it was lost (French), None when available.
    """


@hookspec
def card_inserted(reader: str, atr: str, kind: str) -> None:
    """A card was inserted in `reader`; `kind` is the `classify_card` answer (`unknown` if none), and
    for `vitale` it has been confirmed by selecting the application. Return at once.

    Emitted through `agent.emitter` (hook first, then the `card.inserted` event).

    :param reader: the PC/SC reader name.
    :param atr: the card's ATR (uppercase hex); it stays inside the agent.
    :param kind: `vitale`, `cps`, a plugin's own kind, or `unknown`.
    """


@hookspec
def card_removed(reader: str, kind: str) -> None:
    """The card of `reader` was removed (or became unreachable).

    Emitted through `agent.emitter` (hook first, then the `card.removed` event).

    :param reader: the PC/SC reader name.
    :param kind: the kind the card had when inserted.
    """


@hookspec
def pin_requested(request: PinRequest) -> None:
    """A professional card needs its PIN: show `request.prompt` with a masked field and call
    `request.submit(pin)` or `request.cancel()`. Must not block. Never log or store the PIN.

    Emitted through `agent.emitter` (hook first, then the `pin.requested` event).

    :param request: the `agent.prompts.PinRequest` (`reader`, `card_label`, `tries_left`, `prompt`).
    """


@hookspec
def acting_user_changed(user: ActingUser) -> None:
    """Who is acting changed (CPS/CPE inserted or removed; `kind == "configured"` when the configured
    default applies again).

    Emitted through `agent.emitter` (hook first, then the `acting_user.changed` event).

    :param user: the `agent.acting.ActingUser` acting now.
    """


@hookspec
def identity_updated(identity_id: str, status: str, insi_outcome: str | None) -> None:
    """A patient identity changed: created or looked up (`insi_outcome` `pending`), INSi answered
    (`found`, `not_found`, ...), or it was qualified. Emitted by the INS plugin, then published as the
    `identity.updated` event. Return at once (the UI fetches `identity.view` in a task of its own).

    :param identity_id: the identity's id (`identity.get` / `identity.view` take it).
    :param status: the INS status after the change (`PROV`, `RECUP`, `VALI`, `QUAL`).
    :param insi_outcome: the last INSi outcome, or None when INSi was never asked.
    """


@hookspec
def practice_fact_received(workstation: str, event: str, params: Mapping[str, Any]) -> None:
    """Another workstation's agent of the practice emitted a fact (shared PostgreSQL store only).

    Its LGC event (`event`, `params`: ids and states, e.g. `identity.updated`) has just been published to
    this agent's LGCs too. The fact's own hook is not called here: the shared record is already up to
    date in the store, so re-read what you show (a tray count), but do not act on the patient (no popup
    for a patient scanned at reception until this workstation opens that record). Return at once.

    :param workstation: the emitting agent's `[store] workstation` name.
    :param event: the LGC event name (`identity.updated`, ...).
    :param params: the event's parameters.
    """


@hookspec
def document_validated(document: ValidatedDocument) -> None:
    """A practitioner validated a document (e.g. an ordonnance, printed or exported): share it.

    Called from the durable outbox job `document_validated` (see `agent.documents`), not on the click
    itself: at least once, possibly again after a crash or when another consumer failed, so deduplicate
    by `document.id`. May be `async`; keep it short (queue your own outbox job for network work) or
    raise to have the document offered again later with backoff. `document.patient_ins` is set only for
    a qualified identity. Jobs wait in the outbox while no plugin implements this hook.

    :param document: the `agent.documents.ValidatedDocument` (PDF, type code, author, patient INS).
    """
