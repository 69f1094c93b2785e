"""The provider registry: each provider is described once, here or by its own module.

A :class:`Provider` names where its pieces live (client, reader, emulator, as
``"module:attribute"`` paths, imported only when asked for, so this module sits
below every layer and imports none of them) and its grains. The journal, the
refresh and the other places that used to say ``if provider == "particle"``
look the provider up instead; a new provider is one :func:`register` call in
its own module (see ``tests/fake_provider.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameter

__all__ = ["Provider", "get", "names", "register", "registered"]


@dataclass(frozen=True)
class Provider:
    """What the package knows of one provider, by name.

    ``client`` is a ``"module:attribute"`` path, ``reader`` and ``emulator`` module
    paths (the reader module's protocol: ``KINDS``, ``detect_csv``, ``read_csv``,
    ``unify``... as in ``readers/particle.py``), imported on first use (:meth:`load`). ``grains`` are the report grains in
    the order queries prefer them (see :mod:`usage_analysis.grains`).
    """

    name: str
    display: str
    client: str
    reader: str
    grains: tuple[str, ...]
    emulator: str | None = None
    #: Extra facts a layer may need (FOCUS bits...), by key.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def load(self, what: str) -> Any:
        """The object at ``self.<what>`` (``"client"``, ``"reader"``, ``"emulator"``)."""
        path = getattr(self, what)
        if not path:
            raise InvalidParameter(what, f"provider {self.name!r} has no {what}")
        module, _, attribute = path.partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded

    def client_class(self) -> Any:
        """The provider's client class."""
        return self.load("client")


_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    """Add (or replace, under the same name) a provider; returns it."""
    _REGISTRY[provider.name] = provider
    return provider


def get(name: str) -> Provider:
    """The provider called ``name``, or InvalidParameter naming the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidParameter(
            "provider", f"expected one of {', '.join(_REGISTRY)}, got {name!r}"
        ) from None


def names() -> tuple[str, ...]:
    """Every registered provider's name, in registration order."""
    return tuple(_REGISTRY)


def registered() -> tuple[Provider, ...]:
    """Every registered provider, in registration order."""
    return tuple(_REGISTRY.values())


register(
    Provider(
        name="particle",
        display="Particle",
        client="usage_analysis.clients.particle:ParticleClient",
        reader="usage_analysis.readers.particle",
        grains=("devices", "products"),
        emulator="usage_analysis.emulator.particle",
    )
)
register(
    Provider(
        name="here",
        display="HERE",
        client="usage_analysis.clients.here:HereClient",
        reader="usage_analysis.readers.here",
        grains=("day", "hour", "month", "summarized"),
        emulator="usage_analysis.emulator.here",
    )
)
register(
    Provider(
        name="informatica",
        display="Informatica",
        client="usage_analysis.clients.informatica:InformaticaClient",
        reader="usage_analysis.readers.informatica",
        grains=("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL"),
        emulator="usage_analysis.emulator.informatica",
    )
)
