"""The provider registry: every provider described once, looked up by name."""

from __future__ import annotations

from typing import Any

import pytest

from usage_analysis import providers
from usage_analysis.clients import HereClient, InformaticaClient, ParticleClient
from usage_analysis.clients.journal import _client_for
from usage_analysis.defaults import PROVIDERS
from usage_analysis.errors import InvalidParameter
from usage_analysis.grains import GRAINS


def test_the_three_providers_are_registered_with_their_pieces() -> None:
    assert providers.names()[:3] == PROVIDERS
    classes = {"particle": ParticleClient, "here": HereClient, "informatica": InformaticaClient}
    for name in PROVIDERS:
        p = providers.get(name)
        assert p.client_class() is classes[name]
        assert p.client_class().provider == name
        assert p.grains == GRAINS[name]
        reader = p.load("reader")
        assert callable(reader.detect_csv) and callable(reader.unify)
        assert p.load("emulator").__name__ == f"usage_analysis.emulator.{name}"


def test_an_unknown_provider_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidParameter, match="particle, here, informatica"):
        providers.get("acme-cloud")


def test_the_journal_builds_a_resumed_jobs_client_through_the_registry() -> None:
    built: list[tuple[str, dict[str, str]]] = []

    class Recorder:
        provider = "recorder"

        @classmethod
        def from_journal(cls, account: str, endpoints: dict[str, str]) -> Any:
            built.append((account, endpoints))
            return cls()

    globals()["Recorder"] = Recorder
    try:
        providers.register(
            providers.Provider(
                name="recorder",
                display="Recorder",
                client=f"{__name__}:Recorder",
                reader="usage_analysis.readers.particle",
                grains=("recorded",),
            )
        )
        row = {"provider": "recorder", "account": "acct-1", "endpoints": {"base_url": "u"}}
        assert isinstance(_client_for(row), Recorder)
        assert built == [("acct-1", {"base_url": "u"})]
    finally:
        providers.unregister("recorder")
        globals().pop("Recorder", None)
    with pytest.raises(InvalidParameter, match="unknown provider 'recorder' in the journal"):
        _client_for(row)
    assert "recorder" not in GRAINS and providers.names() == PROVIDERS
