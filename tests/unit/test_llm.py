"""The OpenAI-compatible chat model's client: made once, however many first calls arrive together."""

from __future__ import annotations

import asyncio

import pytest

from shared.llm import OpenAIChatModel, RetryPolicy

pytestmark = pytest.mark.anyio


async def test_concurrent_first_calls_share_one_client() -> None:
    # Given a model whose client is made on the first upstream call
    model = OpenAIChatModel(api_key=lambda: "sk-test", base_url="http://127.0.0.1:9", policy=RetryPolicy())

    # When twenty first calls ask for it at once (building it awaits a thread, so they interleave)
    clients = await asyncio.gather(*(model._sdk() for _ in range(20)))

    # Then they all get the same client: none is made and left unclosed
    assert len({id(client) for client in clients}) == 1
    await model.aclose()
    assert clients[0].is_closed()
