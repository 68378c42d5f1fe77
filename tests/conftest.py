"""Test configuration: fixtures live in tests/support, one module per collaborator."""

pytest_plugins = [
    "tests.support.redis_fixtures",
    "tests.support.model_fixtures",
    "tests.support.aws_fixtures",
]
