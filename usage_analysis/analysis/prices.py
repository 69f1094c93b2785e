"""The price book: what each provider charges, read from a small TOML file.

One file holds the prices of all three providers (format in docs/prices.md, an
example in ``usage_analysis/data/prices.example.toml``)::

    example = true                     # costs from this book say "example prices"

    [particle]                         # Basic plan: blocks x price per block
    currency = "USD"
    block_price = 299.0
    block_data_ops = 720000
    blocks = 1                         # contracted blocks per month (minimum billed)

    [informatica]                      # a contracted price per IPU
    currency = "USD"
    ipu_price = 1.25

    [here]                             # the rate card
    currency = "USD"
    [[here.rates]]
    feature = "Routing - Car"
    price = 0.83
    per = 1000
    free = 30000

Each section may carry ``[<provider>.accounts."<account id>"]`` tables that
override its keys for one account. :func:`load_prices` reads a file,
:meth:`PriceBook.from_dict` a mapping; :func:`example_prices` is the shipped
example. Python's ``tomllib`` reads the file (standard library, no dependency).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..defaults import PARTICLE_BLOCK_DATA_OPS, PARTICLE_BLOCK_DEVICES
from ..errors import InvalidParameter, ReportParseError
from .here import RateCard

__all__ = [
    "InformaticaPrices",
    "ParticlePrices",
    "PriceBook",
    "example_prices",
    "load_prices",
]

EXAMPLE_FILE = "prices.example.toml"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PROVIDERS = ("particle", "informatica", "here")
_PARTICLE_KEYS = {"currency", "plan", "block_price", "block_data_ops", "block_devices", "blocks"}
_INFORMATICA_KEYS = {"currency", "ipu_price"}
_HERE_KEYS = {"currency", "rates", "rates_csv"}


@dataclass(frozen=True)
class ParticlePrices:
    """Particle Basic plan prices: ``blocks_needed x block_price`` a month.

    A month needs ``max(blocks, ceil(data ops / block_data_ops), ceil(devices /
    block_devices))`` blocks; those beyond the contracted ``blocks`` are overage.
    The Free plan (``plan="free"``) costs nothing.
    """

    currency: str
    block_price: float
    plan: str = "basic"
    block_data_ops: int = PARTICLE_BLOCK_DATA_OPS
    block_devices: int = PARTICLE_BLOCK_DEVICES
    blocks: int = 1

    def blocks_needed(self, data_ops: float, devices: int = 0) -> int:
        """Blocks a month with ``data_ops`` data operations on ``devices`` devices is billed."""
        if self.plan == "free":
            return 0
        by_ops = math.ceil(max(data_ops, 0.0) / self.block_data_ops - 1e-12)
        by_devices = math.ceil(max(devices, 0) / self.block_devices)
        return max(self.blocks, by_ops, by_devices)

    def month_cost(self, data_ops: float, devices: int = 0) -> float:
        """The month's cost: blocks needed x block price (0 on the Free plan)."""
        return self.blocks_needed(data_ops, devices) * self.block_price


@dataclass(frozen=True)
class InformaticaPrices:
    """Informatica: a contracted price per IPU."""

    currency: str
    ipu_price: float

    def month_cost(self, ipus: float) -> float:
        return max(ipus, 0.0) * self.ipu_price


@dataclass(frozen=True)
class PriceBook:
    """Prices of the three providers; a missing provider leaves its rows unpriced.

    ``particle``, ``informatica`` and ``here`` map an account id to its prices;
    the key ``None`` holds the provider-wide default. ``example`` is True for
    example prices (the shipped book), which every cost table then says.
    """

    particle: Mapping[str | None, ParticlePrices] = field(default_factory=dict)
    informatica: Mapping[str | None, InformaticaPrices] = field(default_factory=dict)
    here: Mapping[str | None, RateCard] = field(default_factory=dict)
    example: bool = False
    source: str = "<dict>"

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", base: Path | None = None
    ) -> PriceBook:
        """A book from the parsed TOML structure (see the module docstring).

        ``base`` is the directory a ``here.rates_csv`` path is relative to.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameter("prices", f"expected a mapping, got {type(data).__name__}")

        def err(key: str, message: str) -> Exception:
            if source == "<dict>":
                return InvalidParameter(f"prices.{key}", message)
            return ReportParseError(f"{key}: {message}", file=source)

        unknown = set(data) - {"example", *_PROVIDERS}
        if unknown:
            raise err(
                sorted(unknown)[0],
                f"unknown key; expected example, {', '.join(_PROVIDERS)}",
            )
        example = data.get("example", False)
        if not isinstance(example, bool):
            raise err("example", f"expected true or false, got {example!r}")
        sections: dict[str, dict[str | None, Any]] = {}
        for provider in _PROVIDERS:
            section = data.get(provider)
            if section is None:
                sections[provider] = {}
                continue
            if not isinstance(section, Mapping):
                raise err(provider, f"expected a table, got {type(section).__name__}")
            accounts = section.get("accounts", {})
            if not isinstance(accounts, Mapping):
                raise err(f"{provider}.accounts", "expected a table of account tables")
            common = {k: v for k, v in section.items() if k != "accounts"}
            parsed: dict[str | None, Any] = {
                None: _parse(provider, common, f"{provider}", err, base)
            }
            for account, override in accounts.items():
                where = f'{provider}.accounts."{account}"'
                if not isinstance(override, Mapping):
                    raise err(where, "expected a table")
                merged = {**common, **override}
                if provider == "here" and ("rates" in override or "rates_csv" in override):
                    merged = {
                        k: v for k, v in merged.items() if k not in ("rates", "rates_csv")
                    } | {k: override[k] for k in ("rates", "rates_csv") if k in override}
                parsed[str(account)] = _parse(provider, merged, where, err, base)
            sections[provider] = parsed
        return cls(
            particle=sections["particle"],
            informatica=sections["informatica"],
            here=sections["here"],
            example=example,
            source=source,
        )

    @classmethod
    def coerce(cls, prices: PriceBook | Mapping[str, Any] | str | Path | None) -> PriceBook:
        """A book from a book, a mapping, a TOML path, or ``None`` (the example book)."""
        if prices is None:
            return example_prices()
        if isinstance(prices, PriceBook):
            return prices
        if isinstance(prices, Mapping):
            return cls.from_dict(prices)
        if isinstance(prices, str | Path):
            return load_prices(prices)
        raise InvalidParameter(
            "prices",
            f"expected a PriceBook, a mapping, a TOML path or None, got {type(prices).__name__}",
        )

    def for_account(self, provider: str, account: str | None) -> Any:
        """The prices of ``provider`` for ``account`` (its override, else the default)."""
        table: Mapping[str | None, Any] = getattr(self, provider, {})
        if account is not None and account in table:
            return table[account]
        return table.get(None)

    def currencies(self) -> list[str]:
        """Every currency the book prices in."""
        found: set[str] = set()
        for p in self.particle.values():
            found.add(p.currency)
        for i in self.informatica.values():
            found.add(i.currency)
        for card in self.here.values():
            found.update(str(c) for c in card.rates["currency"].dropna())
        return sorted(found)

    def __repr__(self) -> str:
        parts = [p for p in _PROVIDERS if getattr(self, p)]
        label = "EXAMPLE prices" if self.example else "prices"
        return f"<PriceBook {label} for {', '.join(parts) or 'no provider'} from {self.source}>"


def load_prices(path: str | Path) -> PriceBook:
    """Read a price book TOML file; errors name the file and the key."""
    p = Path(path).expanduser()
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidParameter("prices", f"no price book at {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReportParseError(f"not valid TOML: {exc}", file=str(p)) from None
    return PriceBook.from_dict(data, source=str(p), base=p.parent)


def example_prices() -> PriceBook:
    """The shipped EXAMPLE price book (``usage_analysis/data/prices.example.toml``)."""
    ref = resources.files("usage_analysis").joinpath("data", EXAMPLE_FILE)
    with ref.open("rb") as fh:
        data = tomllib.load(fh)
    return PriceBook.from_dict(data, source=f"usage_analysis/data/{EXAMPLE_FILE}")


def _parse(provider: str, spec: Mapping[str, Any], where: str, err: Any, base: Path | None) -> Any:
    allowed = {
        "particle": _PARTICLE_KEYS,
        "informatica": _INFORMATICA_KEYS,
        "here": _HERE_KEYS,
    }[provider]
    unknown = set(spec) - allowed
    if unknown:
        raise err(
            f"{where}.{sorted(unknown)[0]}", f"unknown key; expected one of {sorted(allowed)}"
        )
    currency = spec.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise err(
            f"{where}.currency",
            f"expected an ISO 4217 code such as 'USD' or 'EUR', got {currency!r}",
        )

    def number(key: str, default: float | None = None, *, whole: bool = False) -> Any:
        value = spec.get(key, default)
        if value is None:
            raise err(f"{where}.{key}", "missing; expected a number")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise err(f"{where}.{key}", f"expected a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise err(f"{where}.{key}", f"expected a number >= 0, got {value!r}")
        if whole and (value != int(value) or value < 1):
            raise err(f"{where}.{key}", f"expected a whole number >= 1, got {value!r}")
        return int(value) if whole else float(value)

    if provider == "particle":
        plan = spec.get("plan", "basic")
        if plan not in ("basic", "free"):
            raise err(f"{where}.plan", f"expected 'basic' or 'free', got {plan!r}")
        return ParticlePrices(
            currency=currency,
            plan=plan,
            block_price=number("block_price", 0.0 if plan == "free" else None),
            block_data_ops=number("block_data_ops", PARTICLE_BLOCK_DATA_OPS, whole=True),
            block_devices=number("block_devices", PARTICLE_BLOCK_DEVICES, whole=True),
            blocks=number("blocks", 1, whole=True),
        )
    if provider == "informatica":
        return InformaticaPrices(currency=currency, ipu_price=number("ipu_price"))
    # HERE: a rate card, inline or in a CSV next to the book.
    if ("rates" in spec) == ("rates_csv" in spec):
        raise err(where, "give the rate card as [[here.rates]] entries or as rates_csv, one")
    if "rates_csv" in spec:
        csv = Path(str(spec["rates_csv"])).expanduser()
        if not csv.is_absolute() and base is not None:
            csv = base / csv
        return RateCard.from_csv(csv, currency=currency)
    rates = spec["rates"]
    if not isinstance(rates, list):
        raise err(f"{where}.rates", "expected [[here.rates]] entries")
    mapping: dict[str, Any] = {}
    for i, entry in enumerate(rates):
        if not isinstance(entry, Mapping) or "feature" not in entry:
            raise err(f"{where}.rates[{i}]", "expected a table with feature and price")
        feature = entry["feature"]
        if feature in mapping:
            raise err(f"{where}.rates[{i}].feature", f"{feature!r} is priced more than once")
        mapping[feature] = {k: v for k, v in entry.items() if k != "feature"}
        mapping[feature].setdefault("currency", currency)
    try:
        return RateCard.from_dict(mapping, currency=currency)
    except InvalidParameter as exc:
        raise err(f"{where}.rates", str(exc)) from None
