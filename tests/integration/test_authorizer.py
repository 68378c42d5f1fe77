"""The authorizer against a real JWKS endpoint on loopback, through the real PyJWKClient."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from authorizer import app as authorizer_app
from authorizer.core import AuthorizerConfig, KeysUnavailable, Unauthorized, authorize
from authorizer.jwks import USER_AGENT, JwksSigningKeys
from dominus_dev.serving import ServerThread
from tests.support.clock import FakeClock
from tests.support.jwt_keys import public_jwk

pytestmark = pytest.mark.integration

ISSUER = "https://crm.example.com/"
AUDIENCE = "dominus-api"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/POST/v1/video/script/stream"
# A hung provider answers after this long at the latest; far beyond any client timeout the tests set.
HANG_CAP_S = 30.0


@dataclass
class Jwks:
    """What the fake identity provider publishes, and what it was asked."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    hang: bool = False  # answer only once `released` is set (or after HANG_CAP_S)
    released: threading.Event = field(default_factory=threading.Event)
    body: str | None = None  # overrides the JSON key set
    requests: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            self.requests.append(request.headers.get("user-agent", ""))
            if self.hang:
                await asyncio.to_thread(self.released.wait, HANG_CAP_S)
            if self.status != 200:
                return PlainTextResponse("unavailable", status_code=self.status)
            if self.body is not None:
                return PlainTextResponse(self.body, media_type="application/json")
            return JSONResponse({"keys": self.keys})

        return Starlette(routes=[Route("/.well-known/jwks.json", jwks)])


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Jwks, str]]:
    jwks = Jwks()
    with ServerThread(jwks.app()) as server:
        yield jwks, f"{server.url}/.well-known/jwks.json"


@pytest.fixture
def idp(provider: tuple[Jwks, str]) -> Iterator[Jwks]:
    jwks, _ = provider
    jwks.keys, jwks.status, jwks.hang, jwks.body = [], 200, False, None
    jwks.requests.clear()
    jwks.released.clear()
    yield jwks
    jwks.released.set()  # a request the client gave up on ends now


@pytest.fixture
def jwks_url(provider: tuple[Jwks, str]) -> str:
    return provider[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(private_key: Any, kid: str, alg: str = "RS256", org_id: str = "acme-roofing") -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-7", "org_id": org_id, "iat": now, "exp": now + 300}
    return jwt.encode(payload, private_key, algorithm=alg, headers={"kid": kid})


def event(bearer: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {bearer}", "methodArn": METHOD_ARN}


def config(jwks_url: str, **tuning: Any) -> AuthorizerConfig:
    return AuthorizerConfig(jwks_url=jwks_url, issuer=ISSUER, audience=AUDIENCE, **tuning)


def test_keys_are_fetched_once_then_served_from_memory(idp: Jwks, jwks_url: str) -> None:
    # Given a provider publishing an RSA and an EC key
    first, second = rsa_key(), ec.generate_private_key(ec.SECP256R1())
    idp.keys = [public_jwk(first, "rsa-1"), public_jwk(second, "ec-1")]
    cfg = config(jwks_url)
    keys = JwksSigningKeys.from_config(cfg)
    # When several tokens signed by either key arrive
    for _ in range(3):
        assert authorize(event(token(first, "rsa-1")), keys, cfg)["context"]["org_id"] == "acme-roofing"
        assert authorize(event(token(second, "ec-1", alg="ES256")), keys, cfg)["context"]["sub"] == "user-7"
    # Then the key set was fetched once, saying who asked
    assert idp.requests == [USER_AGENT]


def test_a_rotated_key_is_found_by_one_refetch(idp: Jwks, jwks_url: str) -> None:
    # Given a warm cache holding the old key
    old, new = rsa_key(), rsa_key()
    idp.keys = [public_jwk(old, "2024-old")]
    cfg = config(jwks_url, jwks_refetch_cooldown_s=0)
    keys = JwksSigningKeys.from_config(cfg)
    assert authorize(event(token(old, "2024-old")), keys, cfg)["principalId"] == "user-7"
    assert len(idp.requests) == 1
    # When the provider rotates and a token signed by the new key arrives
    idp.keys = [public_jwk(old, "2024-old"), public_jwk(new, "2025-new")]
    answer = authorize(event(token(new, "2025-new")), keys, cfg)
    # Then the unknown kid caused exactly one refetch, and the token is allowed
    assert answer["context"] == {"org_id": "acme-roofing", "sub": "user-7"}
    assert len(idp.requests) == 2
    # And both keys are now served from memory
    authorize(event(token(old, "2024-old")), keys, cfg)
    authorize(event(token(new, "2025-new")), keys, cfg)
    assert len(idp.requests) == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(idp: Jwks, jwks_url: str, clock: FakeClock) -> None:
    # Given a warm cache, fetched longer ago than the cooldown between forced refetches
    known = rsa_key()
    idp.keys = [public_jwk(known, "k1")]
    cfg = config(jwks_url, jwks_refetch_cooldown_s=10)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    authorize(event(token(known, "k1")), keys, cfg)
    assert len(idp.requests) == 1
    clock.advance(10)
    # When made-up key ids arrive in a burst (within the cooldown of the refetch the first one causes)
    for n in range(5):
        with pytest.raises(Unauthorized):
            authorize(event(token(rsa_key(), f"made-up-{n}")), keys, cfg)
        clock.advance(1)
    # Then only the first one reached the provider
    assert len(idp.requests) == 2
    # And once the cooldown has passed, an unknown id may refetch again
    clock.advance(5)
    with pytest.raises(Unauthorized):
        authorize(event(token(rsa_key(), "made-up-later")), keys, cfg)
    assert len(idp.requests) == 3


def test_an_unknown_kid_right_after_the_first_fetch_does_not_refetch(
    idp: Jwks, jwks_url: str, clock: FakeClock
) -> None:
    # The first fetch starts the cooldown too: a cold start flooded with made-up ids costs one fetch.
    known = rsa_key()
    idp.keys = [public_jwk(known, "k1")]
    cfg = config(jwks_url, jwks_refetch_cooldown_s=10)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    with pytest.raises(Unauthorized):
        authorize(event(token(rsa_key(), "made-up")), keys, cfg)
    assert len(idp.requests) == 1


def test_the_key_set_expires_after_its_ttl(idp: Jwks, jwks_url: str, clock: FakeClock) -> None:
    key = rsa_key()
    idp.keys = [public_jwk(key, "k1")]
    cfg = config(jwks_url, jwks_ttl_s=300)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    authorize(event(token(key, "k1")), keys, cfg)
    clock.advance(300)
    authorize(event(token(key, "k1")), keys, cfg)
    assert len(idp.requests) == 1  # not yet expired
    clock.advance(1)
    authorize(event(token(key, "k1")), keys, cfg)
    assert len(idp.requests) == 2


def test_a_revoked_key_stops_verifying_once_the_ttl_passes(idp: Jwks, jwks_url: str, clock: FakeClock) -> None:
    key = rsa_key()
    idp.keys = [public_jwk(key, "k1")]
    cfg = config(jwks_url, jwks_ttl_s=300, jwks_refetch_cooldown_s=0)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    authorize(event(token(key, "k1")), keys, cfg)
    idp.keys = [public_jwk(rsa_key(), "k2")]
    authorize(event(token(key, "k1")), keys, cfg)  # still cached
    clock.advance(301)
    with pytest.raises(Unauthorized):
        authorize(event(token(key, "k1")), keys, cfg)


def test_a_failed_refetch_keeps_the_cached_set_and_is_keys_unavailable(
    idp: Jwks, jwks_url: str, clock: FakeClock
) -> None:
    # Given a warm cache and a provider that then goes down
    key = rsa_key()
    idp.keys = [public_jwk(key, "k1")]
    cfg = config(jwks_url, jwks_refetch_cooldown_s=0)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    authorize(event(token(key, "k1")), keys, cfg)
    idp.status = 503
    # When an unknown id forces a refetch, it is our failure, not the caller's
    with pytest.raises(KeysUnavailable):
        authorize(event(token(rsa_key(), "rotated")), keys, cfg)
    # And the known key still verifies from memory
    assert authorize(event(token(key, "k1")), keys, cfg)["principalId"] == "user-7"
    assert len(idp.requests) == 2


def test_a_provider_outage_is_not_hammered_by_unknown_kids(idp: Jwks, jwks_url: str, clock: FakeClock) -> None:
    # Given a warm cache, and then a provider that is down
    key = rsa_key()
    idp.keys = [public_jwk(key, "k1")]
    cfg = config(jwks_url, jwks_refetch_cooldown_s=60)
    keys = JwksSigningKeys.from_config(cfg, clock=clock)
    authorize(event(token(key, "k1")), keys, cfg)
    clock.advance(61)
    idp.status = 503
    # When a burst of unknown key ids arrives: the first refetch fails, the rest wait out its cooldown
    with pytest.raises(KeysUnavailable):
        authorize(event(token(rsa_key(), "made-up-0")), keys, cfg)
    for n in range(1, 5):
        with pytest.raises(Unauthorized):
            authorize(event(token(rsa_key(), f"made-up-{n}")), keys, cfg)
    # Then the provider saw one request for the whole burst
    assert len(idp.requests) == 2


@pytest.mark.parametrize("failure", ["status", "hang", "not-json", "no-keys"])
def test_an_unusable_key_set_is_keys_unavailable_not_unauthorized(idp: Jwks, jwks_url: str, failure: str) -> None:
    # Given a provider that is down, hanging, or publishing garbage
    if failure == "status":
        idp.status = 503
    elif failure == "hang":
        idp.hang = True
    elif failure == "not-json":
        idp.body = "<html>maintenance</html>"
    else:
        idp.keys = []
    cfg = config(jwks_url, jwks_timeout_s=0.2)
    keys = JwksSigningKeys.from_config(cfg)
    bearer = token(rsa_key(), "k1")
    # When a token arrives
    started = time.monotonic()
    with pytest.raises(KeysUnavailable):
        authorize(event(bearer), keys, cfg)
    # Then it is our failure (API Gateway's 500, nothing cached), and a hung provider costs the client's
    # timeout, not the provider's HANG_CAP_S (the bound is loose: a loaded machine is slow to wake up)
    assert time.monotonic() - started < HANG_CAP_S / 3


def test_the_lambda_handler_reads_its_environment_once(
    idp: Jwks, jwks_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the authorizer's environment as the template sets it
    key = rsa_key()
    idp.keys = [public_jwk(key, "k1")]
    monkeypatch.setenv("DOMINUS_JWKS_URL", jwks_url)
    monkeypatch.setenv("DOMINUS_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("DOMINUS_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("DOMINUS_JWT_ORG_CLAIM", "tenant")
    authorizer_app.runtime.cache_clear()
    try:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "tenant": "org-9", "exp": now + 60}
        good = jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})
        # When API Gateway invokes the handler twice
        first = authorizer_app.handler(event(good), None)
        second = authorizer_app.handler(event(good), None)
        # Then both are allowed with the configured claim, from one fetch
        assert first == second
        assert first["context"] == {"org_id": "org-9", "sub": "u1"}
        assert len(idp.requests) == 1
        # And a bad token is the 401 convention
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorizer_app.handler(event(good[:-4] + "AAAA"), None)
    finally:
        authorizer_app.runtime.cache_clear()
