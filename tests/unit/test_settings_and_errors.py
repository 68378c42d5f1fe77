"""Settings validation and the error mapping."""

import pytest
from pydantic import ValidationError

from shared.errors import InsufficientBalance, UpstreamTimeout, error_response
from shared.settings import Settings, describe_validation_error


def test_a_bad_variable_is_named_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMINUS_STORE_TIMEOUT_MS", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "DOMINUS_STORE_TIMEOUT_MS" in describe_validation_error(caught.value)


def test_upstash_needs_url_and_token_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_REDIS_REST_URL", "https://x.upstash.io")
    with pytest.raises(ValidationError, match="must be set together"):
        Settings()


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DOMINUS_CHEAP_MODEL", "DOMINUS_SMART_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.dominus_cheap_model, settings.dominus_smart_model) == ("gpt-4o-mini", "gpt-4o")
    assert not settings.has_model_credentials


def test_errors_map_to_status_and_the_contract_shape() -> None:
    assert error_response(InsufficientBalance("top up"), "r1") == (
        403,
        {"error": {"code": "insufficient_balance", "message": "top up", "request_id": "r1"}},
    )
    assert error_response(UpstreamTimeout("slow"), "r2")[0] == 504
    status, body = error_response(KeyError("secret internals"), "r3")
    assert status == 500
    assert "secret" not in str(body)
