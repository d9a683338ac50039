"""The pause after an empty fetch (the local broker does not long-poll; see install_empty_fetch_backoff)."""

from __future__ import annotations

import asyncio
import time

import pytest

from itscam.clients.kafka import install_empty_fetch_backoff, with_empty_fetch_backoff
from itscam.settings import Settings


def _fetch(results: list[bool]):
    calls: list[tuple] = []

    async def original(self, assignment, node_id, request):
        calls.append((assignment, node_id, request))
        return results.pop(0)

    return original, calls


async def test_an_empty_fetch_pauses_and_a_fetch_with_records_does_not():
    original, calls = _fetch([False, True])
    wrapped = with_empty_fetch_backoff(original, lambda: 0.2)
    t0 = time.perf_counter()
    assert await wrapped(None, "a", 1, "req") is False
    empty_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert await wrapped(None, "a", 1, "req") is True
    data_s = time.perf_counter() - t0
    assert calls == [("a", 1, "req"), ("a", 1, "req")]
    assert empty_s >= 0.19
    assert data_s < 0.1


async def test_a_zero_pause_is_off():
    original, _ = _fetch([False])
    wrapped = with_empty_fetch_backoff(original, lambda: 0.0)
    t0 = time.perf_counter()
    assert await wrapped(None, "a", 1, "req") is False
    assert time.perf_counter() - t0 < 0.1


async def test_cancelling_the_pause_ends_the_fetch_quietly_like_aiokafka_does():
    original, _ = _fetch([False])
    task = asyncio.ensure_future(
        with_empty_fetch_backoff(original, lambda: 30.0)(None, "a", 1, "r")
    )
    await asyncio.sleep(0.05)
    task.cancel()
    assert await task is False  # aiokafka's close() awaits the cancelled fetch: it must not raise


def test_install_patches_aiokafka_once_and_later_calls_change_the_pause():
    from aiokafka.consumer.fetcher import Fetcher

    install_empty_fetch_backoff(0.01)
    patched = Fetcher._proc_fetch_request
    assert patched.__qualname__.startswith("with_empty_fetch_backoff")
    install_empty_fetch_backoff(0.02)
    assert Fetcher._proc_fetch_request is patched


def test_the_setting_is_validated():
    assert Settings().kafka_empty_fetch_backoff_ms == 50.0
    with pytest.raises(ValueError, match="kafka_empty_fetch_backoff_ms"):
        Settings(kafka_empty_fetch_backoff_ms=-1)
