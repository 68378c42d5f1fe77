"""Signing keys from the CRM's JWKS endpoint, through PyJWT's PyJWKClient.

PyJWKClient fetches the key set with a timeout, caches it in memory for a TTL, and on an unknown `kid`
refetches once (at most once per cooldown, so a flood of made-up key ids cannot turn into a flood of
requests to the identity provider). This adapter only maps its errors onto ours: an unreachable or
empty key set is `KeysUnavailable` (a 500, never cached), an id the fresh set does not hold is
`Unauthorized`.
"""

from __future__ import annotations

from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from authorizer.core import AuthorizerConfig, KeysUnavailable, Unauthorized

USER_AGENT = "dominus-authorizer"


class JwksSigningKeys:
    """`SigningKeys` backed by a JWKS endpoint."""

    def __init__(self, client: PyJWKClient) -> None:
        self._client = client

    @classmethod
    def from_config(cls, config: AuthorizerConfig) -> JwksSigningKeys:
        client = PyJWKClient(
            config.jwks_url,
            cache_jwk_set=True,
            lifespan=config.jwks_ttl_s,
            timeout=config.jwks_timeout_s,
            cooldown_duration=config.jwks_refetch_cooldown_s,
            headers={"User-Agent": USER_AGENT},
        )
        return cls(client)

    def key_for(self, kid: str) -> PyJWK:
        # The cached (or first-fetched) set: failing here means the key set itself cannot be had.
        try:
            known = self._client.get_signing_keys()
        except (PyJWKClientError, PyJWKSetError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise KeysUnavailable(f"JWKS unavailable: {type(exc).__name__}") from exc
        key = PyJWKClient.match_kid(known, kid)
        if key is not None:
            return key
        # Unknown id: the client refetches once (cooldown permitting) and looks again.
        try:
            return self._client.get_signing_key(kid)
        except (PyJWKClientConnectionError, PyJWKSetError) as exc:
            raise KeysUnavailable(f"JWKS unavailable: {type(exc).__name__}") from exc
        except PyJWKClientError:
            raise Unauthorized("unknown signing key id") from None
