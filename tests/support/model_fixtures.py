"""Pytest plugin: the simulated OpenAI-compatible model, one server per test session (per xdist worker).

Tests point the real `openai` SDK (or the app's settings, via OPENAI_BASE_URL) at `simulated_model.base_url`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dominus_dev.simulated_model import SimulatedModel


@pytest.fixture(scope="session")
def simulated_model_server() -> Iterator[SimulatedModel]:
    """A started simulated model shared by the session; prefer `simulated_model`, which resets it."""
    with SimulatedModel() as model:
        yield model


@pytest.fixture
def simulated_model(simulated_model_server: SimulatedModel) -> SimulatedModel:
    """The session's simulated model with zeroed counters, no queued failures and the default config."""
    simulated_model_server.reset()
    return simulated_model_server


@pytest.fixture
def simulated_openai_env(simulated_model: SimulatedModel, monkeypatch: pytest.MonkeyPatch) -> SimulatedModel:
    """OPENAI_BASE_URL and a placeholder OPENAI_API_KEY aimed at the simulated model, for code that reads env.

    Settings read once and cached must be rebuilt by the test after this fixture runs.
    """
    monkeypatch.setenv("OPENAI_BASE_URL", simulated_model.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")
    return simulated_model
