"""Test configuration: fixtures live in tests/support, one module per collaborator."""

import pytest

pytest_plugins = [
    "tests.support.redis_fixtures",
    "tests.support.model_fixtures",
    "tests.support.aws_fixtures",
    "tests.support.browser",
]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, the loop Lambda and uvicorn use."""
    return "asyncio"
