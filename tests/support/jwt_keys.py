"""Signing keys as an identity provider publishes them in its JWKS."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def public_jwk(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The public half of `private_key` as a JWKS entry."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    assert isinstance(jwk, dict)
    return {**jwk, "kid": kid, "use": "sig"}
