"""The panels capabilities contribute to the popup and the tray (`register_ui_panels`, `register_tray_badges`),
and the host's queue of panels offered to the user. No domain knowledge: a panel is a kind, a key and a
view model; whether it comes up is the owning plugin's `popup_offer` decision.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.errors import RegistrationError
from agent.hookspecs import PanelView, TrayBadge

RAISE, QUEUE, DROP, WAIT = "raise", "queue", "drop", "wait"
DECISIONS = (RAISE, QUEUE, DROP, WAIT)
MAX_OFFERED = 500  # panels kept in the queue (a day's batch fits); the oldest go first
_RENDERER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class PanelKind:
    kind: str
    view: PanelView
    renderer: str
    title: str
    queue_label: str
    methods: tuple[str, ...]
    plugin: str


@dataclass(frozen=True)
class Badge:
    """A tray count (`register_tray_badges`), as the tray shows it."""

    count: int
    label: str
    attention: bool = False
    hint: str | None = None


@dataclass
class Offered:
    kind: str
    key: str
    view: Mapping[str, Any]


@dataclass
class PanelRegistry:
    kinds: dict[str, PanelKind] = field(default_factory=dict)
    badges: dict[str, Callable[[], TrayBadge | None]] = field(default_factory=dict)
    offered: dict[str, Offered] = field(default_factory=dict)  # key -> last view, in arrival order

    def panel_register_for(self, plugin: str) -> Callable[..., None]:
        def register(kind: str, *, view: PanelView, renderer: str, title: str, queue_label: str,
                     methods: tuple[str, ...] = ()) -> None:
            if not _KIND.match(kind):
                raise RegistrationError(f"panel kind {kind!r}: lowercase letters, digits, _ (plugin {plugin})")
            if kind in self.kinds:
                raise RegistrationError(f"panel kind {kind!r} registered twice (plugin {plugin})")
            if not _RENDERER.match(renderer):
                raise RegistrationError(f"panel {kind!r}: renderer must be 'module:Class' (plugin {plugin})")
            self.kinds[kind] = PanelKind(kind, view, renderer, title, queue_label, tuple(methods), plugin)
        return register

    def badge_register_for(self, plugin: str) -> Callable[..., None]:
        def register(name: str, provider: Callable[[], TrayBadge | None]) -> None:
            if name in self.badges:
                raise RegistrationError(f"tray badge {name!r} registered twice (plugin {plugin})")
            self.badges[name] = provider
        return register

    def methods(self) -> frozenset[str]:
        """What the popup's renderers may call, all kinds together."""
        return frozenset(m for k in self.kinds.values() for m in k.methods)

    def offer(self, kind: str, key: str, view: Mapping[str, Any]) -> None:
        if key not in self.offered and len(self.offered) >= MAX_OFFERED:
            self.offered.pop(next(iter(self.offered)))
        self.offered[key] = Offered(kind, key, view)

    def counts(self) -> list[tuple[str, str, int]]:
        """(kind, queue label, count) per registered kind, in registration order."""
        return [(k.kind, k.queue_label, sum(1 for o in self.offered.values() if o.kind == k.kind))
                for k in self.kinds.values()]

    def badge_values(self) -> list[Badge]:
        out = []
        for provider in self.badges.values():
            try:
                b = provider()
            except Exception:  # a capability's counter never breaks the tray
                continue
            if b is not None and b.count > 0:
                out.append(Badge(int(b.count), str(b.label), bool(b.attention), b.hint))
        return out


LEVELS = ("info", "ok", "warning", "error")


async def notify_user(emitter: Any, text: str, *, level: str = "info", topic: str = "") -> None:
    """One notice, two audiences: the `user_notice` hook (popup, tray), then the `agent.notice` event for the
    LGC (`{text, level, topic}`; `topic` is a stable code, e.g. `card.cps`, for LGCs that filter)."""
    await emitter.emit("user_notice", text=text, level=level if level in LEVELS else "info", topic=topic)


def decision(answer: Any) -> str:
    """The plugins' `popup_offer` answer, `queue` when nobody answered or the answer is not one of ours."""
    return answer if answer in DECISIONS else QUEUE


def load_renderer(spec: str) -> Any:
    """`module:Class` → the class (in the popup process)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)
