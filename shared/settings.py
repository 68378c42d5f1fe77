"""Process settings: every environment variable the bundle reads, validated once.

Logic never reads the environment; it receives a `Settings` (or the parts it needs). `load_settings`
reads it once per process and turns a bad value into one message naming each bad variable.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ServiceNotConfigured


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Contract variables (ARCHITECTURE.md, "Environment").
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    dominus_env: Literal["local", "aws"] = "local"
    dominus_cheap_model: str = Field("gpt-4o-mini", min_length=1)
    dominus_smart_model: str = Field("gpt-4o", min_length=1)
    redis_url: str | None = None
    upstash_redis_rest_url: str | None = None
    upstash_redis_rest_token: SecretStr | None = None
    # Deployed, secrets stay in Secrets Manager: the template passes their ARNs, never their values.
    dominus_openai_secret_arn: str | None = None
    dominus_upstash_token_secret_arn: str | None = None
    dominus_perf_table: str = "PerfLogTable"
    dominus_org_table: str = "OrgSettingsTable"
    dominus_jobs_table: str = "JobsTable"  # analysis jobs (geometry, vision)
    dominus_idempotency_table: str = "IdempotencyTable"  # S3 events already handled (vision uploads)
    dominus_rollup_table: str = "RollupTable"  # hourly and daily roll-ups of the perf records
    dominus_bucket: str = "data-bucket"  # uploads and results, under orgs/<org_id>/
    dominus_upload_bucket: str | None = None  # vision's presigned uploads (their events start jobs); else the above
    dominus_event_bus: str = "default"  # EventBridge bus the job-finished events go to (deployed)

    # Engine tuning; defaults fit a 29 s API Gateway budget.
    dominus_auto_threshold: int = Field(200, ge=0, description="AUTO picks the cheap model below this balance")
    dominus_usd_per_balance_token: float = Field(0.001, gt=0, description="what one balance token buys")
    dominus_default_balance: int = Field(10_000, ge=0, description="balance of an org with no record yet")
    dominus_prices_json: str | None = Field(None, description="JSON price overrides, per 1M tokens")
    dominus_store_timeout_ms: int = Field(250, ge=10, le=5_000, description="a store call's bound")
    dominus_store_busy_cap_ms: int = Field(
        5_000, ge=10, le=120_000, description="the bound when this process is too busy to tell a slow store"
    )
    dominus_store_cooldown_ms: int = Field(2_000, ge=0, le=60_000)
    dominus_store_connections: int = Field(
        256, ge=1, le=10_000, description="pooled store connections: store calls a burst has in flight"
    )
    dominus_lease_ms: int = Field(5_000, ge=100, le=60_000)
    dominus_follow_wait_ms: int = Field(26_000, ge=100, le=120_000)
    dominus_upstream_budget_s: float = Field(25.0, gt=0, le=900)
    dominus_upstream_attempt_timeout_s: float = Field(12.0, gt=0, le=600)
    dominus_upstream_connect_timeout_s: float = Field(3.0, gt=0, le=60)
    dominus_upstream_max_attempts: int = Field(3, ge=1, le=10)
    dominus_org_settings_ttl_s: float = Field(30.0, ge=0, le=60, description="engine sees changes this fast")
    dominus_perf_retention_days: int = Field(90, ge=1, le=3650)

    @model_validator(mode="after")
    def _upstash_needs_both(self) -> Settings:
        has_token = bool(self.upstash_redis_rest_token or self.dominus_upstash_token_secret_arn)
        if bool(self.upstash_redis_rest_url) != has_token:
            raise ValueError(
                "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or DOMINUS_UPSTASH_TOKEN_SECRET_ARN) "
                "must be set together"
            )
        return self

    @property
    def has_model_credentials(self) -> bool:
        return bool(self.openai_api_key or self.dominus_openai_secret_arn or self.openai_base_url)


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        name = "_".join(str(part) for part in err["loc"]).upper() or "settings"
        problems.append(f"{name}: {err['msg']}")
    return "Invalid environment: " + "; ".join(problems)


@cache
def load_settings() -> Settings:
    """The process's settings, read from the environment once."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ServiceNotConfigured(describe_validation_error(exc)) from None
