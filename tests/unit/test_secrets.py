"""Secrets: read once, on first use, in the forms Secrets Manager holds them."""

import pytest

from shared.errors import ServiceNotConfigured
from shared.secrets import LazySecret, secret_value


def test_a_secret_may_be_bare_or_json() -> None:
    assert secret_value(" sk-abc \n") == "sk-abc"
    assert secret_value('{"OPENAI_API_KEY": "sk-abc"}') == "sk-abc"
    assert secret_value('{"token": "t-1"}') == "t-1"
    with pytest.raises(ServiceNotConfigured, match="without any of"):
        secret_value('{"something": "else"}')


def test_a_lazy_secret_is_fetched_once_and_only_when_asked() -> None:
    fetched: list[str] = []

    def fetch(arn: str) -> str:
        fetched.append(arn)
        return "sk-from-secrets-manager"

    secret = LazySecret(None, "arn:aws:secretsmanager:us-east-1:1:secret:openai", fetch)
    assert fetched == []
    assert secret.get() == "sk-from-secrets-manager"
    assert secret.get() == "sk-from-secrets-manager"
    assert len(fetched) == 1


def test_a_value_given_directly_wins_over_the_arn() -> None:
    assert LazySecret("sk-direct", "arn:x", lambda arn: "never").get() == "sk-direct"
