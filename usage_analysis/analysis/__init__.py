"""Billing analysis: pure functions over the unified usage frame (no widgets, no HTTP).

Every function takes a unified frame (``usage_analysis.schema``) and returns a tidy
table a chart can plot directly, or a status object with such tables:

- :func:`usage_by`, :func:`top_consumers`, :func:`compare_periods`: who uses what, when
  (:func:`top_and_other`: the ranking and "other" of ``usage_by``, for a table already summed);
- :class:`ParticlePlan`, :func:`plan_status`: Particle data operations against a plan;
- :func:`ipu_usage`, :func:`ipu_status`, :func:`ipu_alerts`, :class:`IPUAlert`:
  Informatica IPUs against the entitlement and the ipuAlert thresholds;
- :func:`here_usage`, :func:`here_costs`, :class:`RateCard`: HERE quantities and cost;
- :func:`costs`, :class:`Costs`, :class:`PriceBook`, :func:`load_prices`: money
  for all three providers from a price book (``example_prices()`` is the example);
- :func:`forecast`: the period-end projection and the day the allowance runs out,
  with planned :class:`Event` s; :func:`freshness`: how fresh a frame's numbers are;
- :func:`anomalies`: days far from a resource's usual level, explained;
- :func:`overview`: one row per provider and account;
- :func:`allocate`, :class:`AllocationRules`: who pays, per team, to the cent.

Quantities of different units are never added (``UnitMismatch``).
"""

from __future__ import annotations

from ._status import AllowanceStatus
from .aggregate import (
    compare_periods,
    period_numbers,
    period_starts,
    top_and_other,
    top_consumers,
    usage_by,
)
from .allocation import Allocation, AllocationRules, AllocationWarning, allocate
from .anomalies import anomalies
from .costs import Costs, costs
from .events import Event
from .forecast import forecast
from .freshness import Freshness, freshness
from .here import RateCard, here_costs, here_usage
from .informatica import IPUAlert, IPUStatus, MissingOrgWarning, ipu_alerts, ipu_status, ipu_usage
from .overview import overview
from .particle import ParticlePlan, ParticlePlanStatus, plan_status
from .prices import InformaticaPrices, ParticlePrices, PriceBook, example_prices, load_prices

__all__ = [
    "Allocation",
    "AllocationRules",
    "AllocationWarning",
    "AllowanceStatus",
    "Costs",
    "Event",
    "Freshness",
    "IPUAlert",
    "IPUStatus",
    "InformaticaPrices",
    "MissingOrgWarning",
    "ParticlePlan",
    "ParticlePlanStatus",
    "ParticlePrices",
    "PriceBook",
    "RateCard",
    "allocate",
    "anomalies",
    "compare_periods",
    "costs",
    "example_prices",
    "forecast",
    "freshness",
    "here_costs",
    "here_usage",
    "ipu_alerts",
    "ipu_status",
    "ipu_usage",
    "load_prices",
    "overview",
    "period_numbers",
    "period_starts",
    "plan_status",
    "top_and_other",
    "top_consumers",
    "usage_by",
]
