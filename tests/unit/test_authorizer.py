"""The JWT authorizer's decisions, with keys generated here and a dict for the JWKS (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK

from authorizer.core import (
    ALLOWED_ALGORITHMS,
    ORG_ID_PATTERN,
    AuthorizerConfig,
    ConfigError,
    KeysUnavailable,
    Unauthorized,
    authorize,
    bearer_token,
    stage_resource,
)
from shared.cache_keys import check_org_id
from shared.errors import BadRequest
from tests.support.jwt_keys import public_jwk

ISSUER = "https://crm.example.com/"
AUDIENCE = "dominus-api"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/POST/v1/analyze"
STAGE_WILDCARD = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/*"
CONFIG = AuthorizerConfig(jwks_url="https://crm.example.com/.well-known/jwks.json", issuer=ISSUER, audience=AUDIENCE)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class DictKeys:
    """`SigningKeys` over a fixed key set, counting lookups."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = {jwk["kid"]: PyJWK.from_dict(jwk) for jwk in jwks}
        self.lookups: list[str] = []

    def key_for(self, kid: str) -> PyJWK:
        self.lookups.append(kid)
        if kid not in self.keys:
            raise Unauthorized("unknown signing key id")
        return self.keys[kid]


class DownKeys:
    def key_for(self, kid: str) -> PyJWK:
        raise KeysUnavailable("JWKS unavailable: PyJWKClientConnectionError")


@pytest.fixture
def keys() -> DictKeys:
    return DictKeys(public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1"))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "org_id": "acme-roofing",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], *, key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign_with: Callable[[bytes], bytes] | None = None) -> str:
    """A token built by hand, for what PyJWT refuses to produce (alg none, HS256 keyed by a public key)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = sign_with(signing_input.encode()) if sign_with else b""
    return f"{signing_input}.{b64url(signature)}"


def event(token: str | None, scheme: str = "Bearer") -> dict[str, Any]:
    answer: dict[str, Any] = {"type": "TOKEN", "methodArn": METHOD_ARN}
    if token is not None:
        answer["authorizationToken"] = f"{scheme} {token}"
    return answer


def assert_unauthorized(token_event: dict[str, Any], keys: Any, config: AuthorizerConfig = CONFIG) -> Unauthorized:
    with pytest.raises(Unauthorized) as raised:
        authorize(token_event, keys, config)
    # API Gateway turns exactly this message into a 401.
    assert str(raised.value) == "Unauthorized"
    return raised.value


def assert_denied(answer: dict[str, Any]) -> None:
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": STAGE_WILDCARD}
    ]
    assert "context" not in answer


# --- allowed --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg", "kid"), [(RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")])
def test_a_valid_token_is_allowed_on_the_whole_stage_with_org_and_subject(
    keys: DictKeys, key: Any, alg: str, kid: str
) -> None:
    # Given a token signed by a key of the JWKS
    token = sign(claims(), key=key, alg=alg, kid=kid)
    # When API Gateway asks about one route
    answer = authorize(event(token), keys, CONFIG)
    # Then the caller may invoke every route of the stage, and the functions learn org and subject
    assert answer == {
        "principalId": "user-42",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE_WILDCARD}],
        },
        "context": {"org_id": "acme-roofing", "sub": "user-42"},
    }
    assert keys.lookups == [kid]


def test_the_org_claim_name_is_configurable(keys: DictKeys) -> None:
    config = AuthorizerConfig(
        jwks_url=CONFIG.jwks_url, issuer=ISSUER, audience=AUDIENCE, org_claim="https://crm.example.com/org"
    )
    token = sign(claims(org_id=None, **{"https://crm.example.com/org": "org.7"}))
    assert authorize(event(token), keys, config)["context"] == {"org_id": "org.7", "sub": "user-42"}


def test_an_audience_list_containing_ours_is_allowed(keys: DictKeys) -> None:
    token = sign(claims(aud=["crm-web", AUDIENCE]))
    assert authorize(event(token), keys, CONFIG)["context"]["org_id"] == "acme-roofing"


def test_clock_skew_within_the_leeway_is_tolerated(keys: DictKeys) -> None:
    now = int(time.time())
    token = sign(claims(exp=now - 10, nbf=now + 10, iat=now))
    assert authorize(event(token), keys, CONFIG)["context"]["sub"] == "user-42"


def test_the_bearer_scheme_is_case_insensitive(keys: DictKeys) -> None:
    token = sign(claims())
    assert authorize(event(token, scheme="bearer"), keys, CONFIG)["principalId"] == "user-42"


# --- unauthorized (401) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example.com/"}, "InvalidIssuerError"),
        ({"aud": "someone-else"}, "InvalidAudienceError"),
        ({"exp": int(time.time()) - 3600}, "ExpiredSignatureError"),
        ({"nbf": int(time.time()) + 3600}, "ImmatureSignatureError"),
        ({"exp": None}, "MissingRequiredClaimError"),
        ({"sub": None}, "MissingRequiredClaimError"),
        ({"iss": None}, "MissingRequiredClaimError"),
        ({"aud": None}, "MissingRequiredClaimError"),
    ],
)
def test_a_token_failing_a_claim_check_is_unauthorized(keys: DictKeys, overrides: dict[str, Any], reason: str) -> None:
    token = sign(claims(**overrides))
    assert reason in assert_unauthorized(event(token), keys).reason


def test_alg_none_is_unauthorized_without_a_key_lookup(keys: DictKeys) -> None:
    # Given an unsigned token naming a key of the JWKS
    token = forge({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims())
    # Then it is refused before any key is looked up (no JWKS traffic for junk)
    assert "algorithm not allowed" in assert_unauthorized(event(token), keys).reason
    assert keys.lookups == []


def test_hs256_signed_with_the_public_key_is_unauthorized(keys: DictKeys) -> None:
    # Given the classic confusion attack: HMAC keyed with the (public) RSA key, as PEM and as JWK text
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(public_jwk(RSA_KEY, "rsa-1")).encode()):

        def hs256(data: bytes, secret: bytes = secret) -> bytes:
            return hmac.new(secret, data, hashlib.sha256).digest()

        token = forge({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), hs256)
        assert "algorithm not allowed" in assert_unauthorized(event(token), keys).reason
    assert keys.lookups == []


def test_a_symmetric_key_in_the_jwks_cannot_verify_anything() -> None:
    # Even if the JWKS held an HMAC key, HS256 is not an accepted algorithm.
    secret = b"0123456789abcdef0123456789abcdef"
    keys = DictKeys({"kty": "oct", "k": b64url(secret), "kid": "hmac-1"})
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "hmac-1"})
    assert_unauthorized(event(token), keys)


def test_a_token_whose_algorithm_does_not_match_its_key_is_unauthorized(keys: DictKeys) -> None:
    # Given an ES256 token that names the RSA key
    token = sign(claims(), key=EC_KEY, alg="ES256", kid="rsa-1")
    assert "does not match" in assert_unauthorized(event(token), keys).reason


def test_a_token_signed_by_another_key_is_unauthorized(keys: DictKeys) -> None:
    token = sign(claims(), key=OTHER_RSA_KEY, kid="rsa-1")
    assert "InvalidSignatureError" in assert_unauthorized(event(token), keys).reason


def test_a_tampered_payload_is_unauthorized(keys: DictKeys) -> None:
    header, _, signature = sign(claims()).split(".")
    payload = b64url(json.dumps(claims(org_id="someone-elses-org")).encode())
    assert_unauthorized(event(f"{header}.{payload}.{signature}"), keys)


def test_an_unknown_kid_or_no_kid_is_unauthorized(keys: DictKeys) -> None:
    assert "unknown signing key" in assert_unauthorized(event(sign(claims(), kid="rotated-away")), keys).reason
    assert "kid" in assert_unauthorized(event(sign(claims(), kid=None)), keys).reason


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearer a.b.c extra"],
)
def test_a_missing_or_non_bearer_authorization_is_unauthorized(keys: DictKeys, authorization: str | None) -> None:
    token_event: dict[str, Any] = {"type": "TOKEN", "methodArn": METHOD_ARN}
    if authorization is not None:
        token_event["authorizationToken"] = authorization
    assert_unauthorized(token_event, keys)
    assert keys.lookups == []


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30."])
def test_a_malformed_token_is_unauthorized(keys: DictKeys, token: str) -> None:
    assert_unauthorized(event(token), keys)


def test_the_token_never_reaches_the_log(keys: DictKeys, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = sign(claims())
    bad = sign(claims(aud="someone-else"))
    authorize(event(good), keys, CONFIG)
    with pytest.raises(Unauthorized):
        authorize(event(bad), keys, CONFIG)
    assert caplog.records, "decisions are logged"
    for token in (good, bad):
        for part in token.split("."):
            assert part not in caplog.text


# --- denied (403): a genuine token that names no valid org ---------------------------------------


@pytest.mark.parametrize(
    "org_id",
    [None, "", "a:b", "org*", "../other", "-leading-dash", "x" * 129, "org\n", "org id", 42, ["acme"], {"id": "acme"}],
)
def test_a_valid_token_without_a_valid_org_id_is_denied(keys: DictKeys, org_id: Any) -> None:
    payload = claims()
    if org_id is None:
        del payload["org_id"]
    else:
        payload["org_id"] = org_id
    answer = authorize(event(sign(payload)), keys, CONFIG)
    assert answer["principalId"] == "user-42"
    assert_denied(answer)


def test_the_org_id_rule_matches_the_cache_key_rule() -> None:
    # The authorizer admits exactly the org ids shared.cache_keys accepts as key segments (the
    # authorizer also refuses a trailing newline, which `$` in shared's pattern lets through).
    samples = ["a", "acme-roofing", "Org_1.2", "x" * 128, "x" * 129, "", "a:b", "-a", ".a", "a b", "ä", "a/b", "a*"]
    for sample in samples:
        try:
            shared_ok = check_org_id(sample) == sample
        except BadRequest:
            shared_ok = False
        assert bool(ORG_ID_PATTERN.fullmatch(sample)) is shared_ok, sample


# --- infrastructure failures are not the caller's fault -------------------------------------------


def test_an_unavailable_jwks_is_an_error_not_a_401() -> None:
    with pytest.raises(KeysUnavailable):
        authorize(event(sign(claims())), DownKeys(), CONFIG)


@pytest.mark.parametrize("method_arn", [None, "", "not-an-arn", "arn:aws:lambda:us-east-1:1:function:x/dev/GET/"])
def test_a_malformed_method_arn_is_an_error(keys: DictKeys, method_arn: str | None) -> None:
    with pytest.raises(ValueError, match="methodArn"):
        authorize(
            {"type": "TOKEN", "authorizationToken": f"Bearer {sign(claims())}", "methodArn": method_arn}, keys, CONFIG
        )


# --- pieces ---------------------------------------------------------------------------------------


def test_stage_resource_covers_every_method_and_path_of_the_stage() -> None:
    assert stage_resource(METHOD_ARN) == STAGE_WILDCARD
    assert (
        stage_resource("arn:aws:execute-api:eu-west-1:1:api/prod/GET/") == "arn:aws:execute-api:eu-west-1:1:api/prod/*"
    )


def test_bearer_token_extracts_the_token() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("BEARER  abc.def.ghi ") == "abc.def.ghi"


def test_only_rs256_and_es256() -> None:
    assert ALLOWED_ALGORITHMS == ("RS256", "ES256")


def test_config_from_environ_reads_the_four_variables() -> None:
    config = AuthorizerConfig.from_environ(
        {
            "DOMINUS_JWKS_URL": "https://crm.example.com/jwks.json",
            "DOMINUS_JWT_ISSUER": ISSUER,
            "DOMINUS_JWT_AUDIENCE": AUDIENCE,
            "DOMINUS_JWT_ORG_CLAIM": "tenant",
        }
    )
    assert (config.jwks_url, config.issuer, config.audience, config.org_claim) == (
        "https://crm.example.com/jwks.json",
        ISSUER,
        AUDIENCE,
        "tenant",
    )
    defaulted = AuthorizerConfig.from_environ(
        {"DOMINUS_JWKS_URL": "https://x.example/jwks", "DOMINUS_JWT_ISSUER": "i", "DOMINUS_JWT_AUDIENCE": "a"}
    )
    assert defaulted.org_claim == "org_id"


def test_config_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        AuthorizerConfig.from_environ({"DOMINUS_JWT_ISSUER": ISSUER})
    assert "DOMINUS_JWKS_URL" in str(raised.value)
    assert "DOMINUS_JWT_AUDIENCE" in str(raised.value)
    assert "DOMINUS_JWT_ISSUER" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["http://crm.example.com/jwks.json", "file:///etc/passwd", "ftp://crm.example.com/jwks", "https://", "jwks"]
)
def test_config_refuses_a_jwks_url_that_is_not_https(url: str) -> None:
    with pytest.raises(ConfigError, match="DOMINUS_JWKS_URL"):
        AuthorizerConfig(jwks_url=url, issuer=ISSUER, audience=AUDIENCE)


def test_config_allows_plain_http_on_loopback_only() -> None:
    assert AuthorizerConfig(jwks_url="http://127.0.0.1:8123/jwks.json", issuer=ISSUER, audience=AUDIENCE)
