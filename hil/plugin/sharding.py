"""`--hil-shard INDEX/COUNT`: this machine runs one of COUNT deterministic parts of the tests (as
Twister's `--subset`); `hil report --merge` puts the parts' results back together."""

from __future__ import annotations

import re

import pytest

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """(index, count) of 'INDEX/COUNT', 1 <= INDEX <= COUNT; a one-line UsageError otherwise."""
    match = SHARD.match(text)
    index, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= count:
        raise pytest.UsageError(f"--hil-shard {text!r}: expected INDEX/COUNT with 1 <= INDEX <= COUNT, as 2/3")
    return index, count


def shard_items(items: list[pytest.Item], index: int, count: int) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(kept, left to the other shards): contiguous runs of the collection order, so the tests of one model
    (grouped together by the plugin) stay on as few machines as possible and each shard builds less firmware.
    The same checkout and options collect the same order on every machine, so the parts never overlap."""
    start, stop = (index - 1) * len(items) // count, index * len(items) // count
    return items[start:stop], items[:start] + items[stop:]


def select_shard(config: pytest.Config, items: list[pytest.Item], shard: str | None) -> None:
    """Keeps this shard's items and reports the others as deselected."""
    if not shard:
        return
    kept, others = shard_items(items, *parse_shard(shard))
    if others:
        config.hook.pytest_deselected(items=others)
    items[:] = kept
