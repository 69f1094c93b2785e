"""Secrets never show themselves: Secret, redact() and the logging filter."""

from __future__ import annotations

import logging
import pickle

import pytest

from usage_analysis._secrets import MASK, Secret, get_logger, redact


def test_secret_repr_str_and_format_hide_the_value() -> None:
    secret = Secret("tok-1234567890abcdef")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret:>30}", "%s" % (secret,)):  # noqa: UP031
        assert "tok-1234567890abcdef" not in text
        assert MASK in text
    assert secret.get() == "tok-1234567890abcdef"


def test_secret_compares_by_value_without_revealing_it() -> None:
    assert Secret("abcdef123456") == Secret("abcdef123456")
    assert Secret("abcdef123456") == "abcdef123456"
    assert Secret("abcdef123456") != Secret("other-value-99")
    assert len({Secret("abcdef123456"), Secret("abcdef123456")}) == 1
    assert Secret(Secret("abcdef123456")).get() == "abcdef123456"


def test_secret_refuses_to_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret("do-not-save-me-42"))


def test_secret_needs_a_string() -> None:
    with pytest.raises(TypeError, match="needs a str"):
        Secret(42)  # type: ignore[arg-type]


def test_redact_masks_known_secrets_anywhere_in_text() -> None:
    Secret("s3cr3t-value-xyz")
    assert (
        redact("token=s3cr3t-value-xyz; again s3cr3t-value-xyz.") == f"token={MASK}; again {MASK}."
    )


def test_redact_masks_url_query_strings_bearer_tokens_and_session_headers() -> None:
    text = (
        "GET https://bucket.example/r.csv?X-Amz-Signature=abc123&X-Amz-Expires=600 "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload "
        "INFA-SESSION-ID: 9fdjk3jklsdf0sdf "
        '{"password": "hunter2hunter2"}'
    )
    out = redact(text)
    for leaked in ("abc123", "eyJhbGciOiJIUzI1NiJ9", "9fdjk3jklsdf0sdf", "hunter2hunter2"):
        assert leaked not in out
    assert "https://bucket.example/r.csv?***" in out


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "fetched a bearer token with the access keys for report 1001"
    assert redact(text) == text


def test_package_and_httpx_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("log-secret-0987654321")
    caplog.set_level(logging.DEBUG)
    get_logger("usage_analysis.clients.something").debug("sending %s", secret.get())
    logging.getLogger("usage_analysis").info("value %s", secret.get())
    logging.getLogger("httpx").info('HTTP Request: GET https://h/x?sig=%s "200"', secret.get())
    assert len(caplog.records) == 3
    assert "log-secret-0987654321" not in caplog.text
    assert caplog.text.count(MASK) >= 3


def test_exception_text_in_log_records_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("exc-secret-1122334455")
    caplog.set_level(logging.DEBUG)
    log = get_logger("usage_analysis.test")
    try:
        raise ValueError(f"bad {secret.get()}")
    except ValueError:
        log.exception("failed")
    assert "exc-secret-1122334455" not in caplog.text
