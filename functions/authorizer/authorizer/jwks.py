"""Signing keys from the CRM's JWKS endpoint.

PyJWT's PyJWKClient fetches the key set (with a timeout, no redirects, http(s) only) and parses it;
this adapter keeps the parsed set in memory for a TTL and, on an unknown `kid`, refetches once, at
most once per cooldown after the last fetch or refetch attempt, so a flood of made-up key ids cannot turn
into a flood of requests to the identity provider. These two rules are PyJWKClient's own caching
rules, kept here rather than in the client so that they run on an injected clock (the tests advance
it instead of sleeping). An unreachable, unparsable or empty key set is `KeysUnavailable` (a 500,
never cached); an id the fresh set does not hold is `Unauthorized`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKSetError

from authorizer.core import AuthorizerConfig, KeysUnavailable, Unauthorized

USER_AGENT = "dominus-authorizer"


class JwksSigningKeys:
    """`SigningKeys` backed by a JWKS endpoint; `clock` is monotonic seconds."""

    def __init__(
        self,
        client: PyJWKClient,
        ttl_s: float,
        refetch_cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._refetch_cooldown_s = refetch_cooldown_s
        self._clock = clock
        self._keys: list[PyJWK] | None = None
        self._fetched_at = 0.0
        self._refetched_at = float("-inf")  # the last unknown-id refetch, whether or not it succeeded
        # Serialises lookups, as PyJWKClient does, so concurrent unknown ids cause one refetch.
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: AuthorizerConfig, clock: Callable[[], float] = time.monotonic) -> JwksSigningKeys:
        # The client's own set cache is off: this class caches, on `clock`.
        client = PyJWKClient(
            config.jwks_url,
            cache_jwk_set=False,
            timeout=config.jwks_timeout_s,
            headers={"User-Agent": USER_AGENT},
        )
        return cls(client, config.jwks_ttl_s, config.jwks_refetch_cooldown_s, clock)

    def key_for(self, kid: str) -> PyJWK:
        with self._lock:
            keys = self._keys
            if keys is None or self._clock() > self._fetched_at + self._ttl_s:
                keys = self._fetch()
            key = PyJWKClient.match_kid(keys, kid)
            if key is not None:
                return key
            # Unknown id: a rotated key is found by one refetch, cooldown permitting. A refetch that
            # failed counts too, so an outage at the provider is not hammered once per request.
            if self._clock() - max(self._fetched_at, self._refetched_at) < self._refetch_cooldown_s:
                raise Unauthorized("unknown signing key id")
            self._refetched_at = self._clock()
            key = PyJWKClient.match_kid(self._fetch(), kid)
            if key is None:
                raise Unauthorized("unknown signing key id")
            return key

    def _fetch(self) -> list[PyJWK]:
        """The fresh set's signing keys; only a successful fetch replaces the cache and starts the cooldown."""
        try:
            keys = self._client.get_signing_keys()
        except (PyJWKClientError, PyJWKSetError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise KeysUnavailable(f"JWKS unavailable: {type(exc).__name__}") from exc
        self._keys, self._fetched_at = keys, self._clock()
        return keys
