"""The public surface is exactly ``usage_analysis.__all__`` (after httpx's test)."""

from __future__ import annotations

import usage_analysis


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(usage_analysis).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("usage_analysis")
        and not getattr(value, "__file__", None)  # submodules are not exports
    }
    assert public <= set(usage_analysis.__all__)
    for name in usage_analysis.__all__:
        assert hasattr(usage_analysis, name), name


def test_errors_form_one_tree() -> None:
    from usage_analysis import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.UsageAnalysisError)
