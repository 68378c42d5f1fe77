"""Verify the CRM's JWT and turn it into an API Gateway TOKEN-authorizer answer.

The verification itself is PyJWT's (signature, `exp`/`nbf`/`iat` with leeway, `iss`, `aud`, required
claims); this module decides what to ask of it and what the answer means:

- only RS256 and ES256 are accepted, checked before any key lookup, so `none`, HS256 and friends never
  reach a verifier nor trigger a JWKS fetch; the key must carry the same algorithm as the token;
- a token that fails any check -> `Unauthorized` (message exactly "Unauthorized": API Gateway's
  convention for a 401);
- a genuine token whose org claim is missing or not a valid org id -> a Deny policy (403): the caller
  is authenticated but names no tenant, and a fresh token would not change that;
- otherwise an Allow policy for every method and path of the stage (so API Gateway's cached answer for
  this token serves every route), with context `{"org_id": ..., "sub": ...}`.

Keys come from a `SigningKeys` collaborator (the JWKS client in production, a dict in unit tests).
Nothing here logs the token or any part of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlparse

import jwt
from jwt import PyJWK

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: Final = ("RS256", "ES256")
# The claims a token must carry. `nbf` and `iat` are checked when present.
REQUIRED_CLAIMS: Final = ("exp", "iss", "aud", "sub")
# Same rule as shared.cache_keys (org ids are cache-key segments), applied with fullmatch so a trailing
# newline cannot slip through `$`. Duplicated rather than imported: `shared.cache_keys` pulls in pydantic,
# which would double this function's cold start. tests/unit/test_authorizer.py keeps the two in step.
ORG_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
DEFAULT_ORG_CLAIM: Final = "org_id"
_BEARER: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


# --- errors ---------------------------------------------------------------------------------------


class Unauthorized(Exception):
    """Missing or invalid credentials. The message is always "Unauthorized" (API Gateway answers 401);
    `reason` says why, for the log, and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized")
        self.reason = reason


class KeysUnavailable(Exception):
    """The JWKS could not be fetched or holds no usable key: our fault, not the caller's.

    It propagates as a plain error (API Gateway answers 500 and caches nothing), so a JWKS outage
    does not tell valid callers their credentials are bad.
    """


class ConfigError(ValueError):
    """The authorizer's environment is missing or invalid; the message names every bad variable."""


# --- collaborators and configuration --------------------------------------------------------------


class SigningKeys(Protocol):
    """Finds the public key for a token's `kid`."""

    def key_for(self, kid: str) -> PyJWK:
        """The key with this id. Raises `Unauthorized` for an unknown id and `KeysUnavailable` when the
        key set cannot be had."""
        ...


@dataclass(frozen=True)
class AuthorizerConfig:
    """What the authorizer checks a token against. A plain dataclass (not pydantic-settings) keeps the
    cold start to PyJWT and cryptography; `from_environ` validates just as strictly."""

    jwks_url: str
    issuer: str
    audience: str
    org_claim: str = DEFAULT_ORG_CLAIM
    leeway_s: float = 30.0
    jwks_timeout_s: float = 2.0
    jwks_ttl_s: float = 300.0
    jwks_refetch_cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise ConfigError("Invalid authorizer configuration: " + "; ".join(problems))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AuthorizerConfig:
        """Read DOMINUS_JWKS_URL, DOMINUS_JWT_ISSUER, DOMINUS_JWT_AUDIENCE and DOMINUS_JWT_ORG_CLAIM
        (default `org_id`)."""
        names = {
            "jwks_url": "DOMINUS_JWKS_URL",
            "issuer": "DOMINUS_JWT_ISSUER",
            "audience": "DOMINUS_JWT_AUDIENCE",
        }
        missing = [env for env in names.values() if not environ.get(env, "").strip()]
        if missing:
            raise ConfigError("Invalid authorizer configuration: " + "; ".join(f"{m}: not set" for m in missing))
        return cls(
            jwks_url=environ["DOMINUS_JWKS_URL"].strip(),
            issuer=environ["DOMINUS_JWT_ISSUER"].strip(),
            audience=environ["DOMINUS_JWT_AUDIENCE"].strip(),
            org_claim=environ.get("DOMINUS_JWT_ORG_CLAIM", "").strip() or DEFAULT_ORG_CLAIM,
        )


def _config_problems(config: AuthorizerConfig) -> list[str]:
    problems = []
    url = urlparse(config.jwks_url)
    loopback = url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS
    if not url.hostname or not (url.scheme == "https" or loopback):
        problems.append("DOMINUS_JWKS_URL: must be an https:// URL (http:// only on loopback, for tests)")
    if not config.issuer:
        problems.append("DOMINUS_JWT_ISSUER: empty")
    if not config.audience:
        problems.append("DOMINUS_JWT_AUDIENCE: empty")
    if not config.org_claim:
        problems.append("DOMINUS_JWT_ORG_CLAIM: empty")
    if not 0 <= config.leeway_s <= 300:
        problems.append("leeway_s: must be 0-300 s")
    if not 0 < config.jwks_timeout_s <= 10:
        problems.append("jwks_timeout_s: must be within (0, 10] s")
    if config.jwks_ttl_s <= 0:
        problems.append("jwks_ttl_s: must be positive")
    if config.jwks_refetch_cooldown_s < 0:
        problems.append("jwks_refetch_cooldown_s: must not be negative")
    return problems


# --- the decision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    sub: str
    org_id: str


@dataclass(frozen=True)
class Forbidden:
    sub: str
    reason: str


def bearer_token(authorization: object) -> str:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive)."""
    if not isinstance(authorization, str) or not authorization:
        raise Unauthorized("no Authorization header")
    match = _BEARER.fullmatch(authorization)
    if match is None:
        raise Unauthorized("Authorization is not a Bearer token")
    return match.group(1)


def verify_token(token: str, keys: SigningKeys, config: AuthorizerConfig) -> dict[str, Any]:
    """The token's claims once signature, algorithm, issuer, audience and times all check out."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("malformed token") from None
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise Unauthorized(f"algorithm not allowed: {str(algorithm)[:16]!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("token names no key (kid)")
    key = keys.key_for(kid)
    if key.algorithm_name != algorithm:
        # A key is bound to one algorithm: an RSA key never verifies an ES256 token, nor the reverse.
        raise Unauthorized(f"token algorithm {algorithm} does not match its key's {key.algorithm_name}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=config.issuer,
            audience=config.audience,
            leeway=config.leeway_s,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"token rejected: {type(exc).__name__}") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("token has no subject")
    return claims


def decide(claims: Mapping[str, Any], org_claim: str) -> Allowed | Forbidden:
    """Allowed with the org id, or Forbidden when the (verified) token names no valid org."""
    sub = str(claims["sub"])
    org_id = claims.get(org_claim)
    if org_id is None:
        return Forbidden(sub, f"no {org_claim!r} claim")
    if not isinstance(org_id, str) or not ORG_ID_PATTERN.fullmatch(org_id):
        return Forbidden(sub, f"{org_claim!r} claim is not a valid org id")
    return Allowed(sub, org_id)


def stage_resource(method_arn: object) -> str:
    """`arn:...:<api>/<stage>/<METHOD>/<path>` -> `arn:...:<api>/<stage>/*` (every route of the stage)."""
    if not isinstance(method_arn, str):
        raise ValueError("event has no methodArn")
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    if not api.startswith("arn:") or ":execute-api:" not in api or not stage:
        raise ValueError("methodArn is not an execute-api method ARN")
    return f"{api}/{stage}/*"


def policy(principal_id: str, effect: str, resource: str, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The authorizer response API Gateway expects."""
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def authorize(event: Mapping[str, Any], keys: SigningKeys, config: AuthorizerConfig) -> dict[str, Any]:
    """A TOKEN authorizer event in, an Allow or Deny policy out; `Unauthorized` for bad credentials."""
    resource = stage_resource(event.get("methodArn"))
    try:
        claims = verify_token(bearer_token(event.get("authorizationToken")), keys, config)
    except Unauthorized as exc:
        logger.info("authorizer: unauthorized (%s)", exc.reason)
        raise
    decision = decide(claims, config.org_claim)
    if isinstance(decision, Forbidden):
        logger.info("authorizer: denied sub=%s (%s)", decision.sub, decision.reason)
        return policy(decision.sub, "Deny", resource)
    logger.info("authorizer: allowed sub=%s org=%s", decision.sub, decision.org_id)
    return policy(decision.sub, "Allow", resource, {"org_id": decision.org_id, "sub": decision.sub})
