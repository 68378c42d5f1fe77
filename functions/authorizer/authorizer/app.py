"""Lambda entry point of the REST API's TOKEN authorizer (Handler: authorizer.app.handler).

Thin on purpose: read the configuration once per process, build the JWKS client once (its cache lives
as long as the execution environment), and hand each event to `authorize`. The contract:

- Allow: `{"principalId": sub, "policyDocument": Allow execute-api:Invoke on <api>/<stage>/*,
  "context": {"org_id": ..., "sub": ...}}`;
- Deny (403): a genuine token without a valid org id claim;
- `Unauthorized` raised (message "Unauthorized", API Gateway's 401): missing or invalid token;
- any other error (JWKS unreachable, bad configuration): API Gateway answers 500, nothing cached.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Any

from authorizer.core import AuthorizerConfig, SigningKeys, authorize
from authorizer.jwks import JwksSigningKeys

logging.getLogger("authorizer").setLevel(logging.INFO)


@cache
def runtime() -> tuple[AuthorizerConfig, SigningKeys]:
    """The configuration and key source of this execution environment, built on the first call."""
    config = AuthorizerConfig.from_environ(os.environ)
    return config, JwksSigningKeys.from_config(config)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    config, keys = runtime()
    return authorize(event, keys, config)
