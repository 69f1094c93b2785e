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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .errors import InvalidParameter

__all__ = [
    "Provider",
    "display_name",
    "get",
    "names",
    "on_register",
    "register",
    "registered",
    "unregister",
]


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
    #: Where its reader comes in detection (lower first): a reader that claims
    #: columns by meaning (Particle's) goes last, or it would claim too much.
    detect_order: int = 0
    #: Grains: the reader's report kind -> grain; or the attrs key naming the grain
    #: itself (HERE's ``detail_level``); ``"module:function"`` guessing each row's
    #: grain from its values, ``(df, {grain: code}) -> codes`` (usage_analysis.grains).
    kind_grains: dict[str, str] = field(default_factory=dict, compare=False)
    grain_attr: str | None = None
    guess_grain: str | None = None
    #: How long one row of each grain can last (None: no bound), and the grains whose
    #: rows are events keyed by their start (the archive's replace range).
    grain_spans: dict[str, timedelta | None] = field(default_factory=dict, compare=False)
    by_start: frozenset[str] = frozenset()
    #: Hints for an HTTP error answer: by status, and by the provider's error code
    #: (usage_analysis.clients._errormap, the one place a status becomes an exception).
    http_hints: dict[int, str] = field(default_factory=dict, compare=False)
    error_code_hints: dict[str, str] = field(default_factory=dict, compare=False)
    #: The FOCUS mapping's facts (usage_analysis.focus): ``company`` (name, billing
    #: account type), ``sandbox_account`` (the id of rows without an account),
    #: ``service``/``description`` (``"module:function"``), ``resource_type``
    #: (category -> type, or ``by_meter``), ``sub_account`` (column, type), ``tags``
    #: (which tag the product column fills), ``currency_from`` (price book field).
    focus: dict[str, Any] = field(default_factory=dict, compare=False)
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
_LISTENERS: list[Callable[[], None]] = []


def on_register(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every :func:`register` (tables built from the registry)."""
    _LISTENERS.append(listener)


def unregister(name: str) -> None:
    """Remove a provider (tests); the tables built from the registry follow."""
    if _REGISTRY.pop(name, None) is not None:
        for listener in _LISTENERS:
            listener()


def register(provider: Provider) -> Provider:
    """Add (or replace, under the same name) a provider; returns it."""
    _REGISTRY[provider.name] = provider
    for listener in _LISTENERS:
        listener()
    return provider


def get(name: str) -> Provider:
    """The provider called ``name``, or InvalidParameter naming the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidParameter(
            "provider", f"expected one of {', '.join(_REGISTRY)}, got {name!r}"
        ) from None


def display_name(name: str) -> str:
    """How the provider writes its own name ("HERE"); an unknown name as given."""
    found = _REGISTRY.get(name)
    return found.display if found is not None else name


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
        detect_order=1,
        focus={
            "company": ("Particle", "Organization"),
            "sandbox_account": "particle-sandbox",
            "service": "usage_analysis.focus:service_particle",
            "description": "usage_analysis.focus:description_particle",
            "resource_type": {"product": "Product", None: "Device"},
            "sub_account": (None, "Product"),
            "product_tag": "product",
        },
        http_hints={
            401: (
                "the access token is missing, wrong or expired (tokens last 90 days by "
                "default): make a new one with `particle token create` and pass it as "
                "token= or set PARTICLE_ACCESS_TOKEN"
            ),
            403: (
                "the token's user must belong to the organization, as an administrator to "
                "request its reports; check org= (or leave it out for your sandbox)"
            ),
        },
        kind_grains={"devices": "devices", "products": "products"},
        guess_grain="usage_analysis.grains:guess_particle",
        grain_spans={"devices": timedelta(days=31), "products": timedelta(days=31)},
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
        grain_attr="detail_level",
        focus={
            "company": ("HERE Technologies", "Realm"),
            "service": "usage_analysis.focus:service_here",
            "description": "usage_analysis.focus:description_here",
            "resource_type": {None: "App"},
            "sub_account": ("project", "Project"),
            "project_column": True,
            "currency_from": "rates",
        },
        http_hints={
            401: (
                "the bearer token is wrong or expired (HERE tokens last 24 hours): pass a new "
                "token= or HERE_TOKEN, or leave both unset so a token is fetched with the keys "
                "in ~/.here/credentials.properties"
            ),
            403: "the token's user needs access to the realm's usage (check realm_id=)",
        },
        error_code_hints={
            "E706001": "realm_id must be your HERE org id, 5 to 30 characters (e.g. org123456789)",
            "E706002": "the search page limit must be between 1 and 100",
            "E706003": (
                "startDate and endDate must be yyyy-MM-ddTHH:mm:ss (UTC), start before end, "
                "at most 95 days apart"
            ),
            "E706004": "group_by accepts only project, billingTag and appId",
        },
        guess_grain="usage_analysis.grains:guess_here",
        grain_spans={
            "day": timedelta(days=1),
            "hour": timedelta(hours=1),
            "month": timedelta(days=31),
            "summarized": None,  # a summarized row spans the request
        },
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
        kind_grains={
            "summary": "SUMMARY",
            "project_folder": "PROJECT_FOLDER",
            "asset": "ASSET",
            "job_level": "JOB_LEVEL",
            "job_level_ai": "JOB_LEVEL",
        },
        guess_grain="usage_analysis.grains:guess_informatica",
        focus={
            "company": ("Informatica", "Organization"),
            "service": "usage_analysis.focus:service_informatica",
            "description": "usage_analysis.focus:description_informatica",
            "resource_type": "by_meter",
            "sub_account": (None, "Project"),
            "product_tag": "project",
            "folder_tag": True,
        },
        http_hints={
            401: (
                "the session expired or the user name or password is wrong: check "
                "INFORMATICA_USERNAME / INFORMATICA_PASSWORD and that the login URL names "
                "your pod"
            ),
            403: "the user needs the privilege to read metering data in this org",
        },
        grain_spans={
            "SUMMARY": timedelta(days=1),
            "PROJECT_FOLDER": timedelta(days=1),
            "ASSET": timedelta(days=1),
            "JOB_LEVEL": None,
        },
        # an Informatica job that runs past midnight belongs to the day it started
        by_start=frozenset({"JOB_LEVEL"}),
    )
)
