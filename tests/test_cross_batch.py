"""Cross-job batcher: merging, compatibility, errors and cancellation (issue 18, target 4)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tubesum.pipeline.cross_batch import CrossBatcher

EN = SimpleNamespace(language_code="en", task=1)


class RowForward:
    """A forward that answers each row with (row sum, options tag); the first call waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[tuple[int, Any]] = []
        self.fail = False

    def __call__(self, features: Any, tokenizer: Any, chunks: list[Any], options: Any) -> list[Any]:
        if not self.calls:
            self.release.wait(10)
        self.calls.append((len(features), options))
        if self.fail:
            raise ValueError("model exploded")
        return [(float(row.sum()), options["tag"], chunk) for row, chunk in zip(features, chunks, strict=True)]


def _features(value: float, rows: int) -> np.ndarray:
    return np.full((rows, 2, 3), value, dtype=np.float32)


def _wait_pending(batcher: CrossBatcher, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(batcher._pending) < count:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_requests_queued_while_busy_are_merged_and_split_back() -> None:
    forward = RowForward()
    batcher = CrossBatcher(forward, max_rows=8)
    options = {"tag": "a", "temps": [0.0, 0.2]}
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, _features(1, 1), EN, ["c1"], dict(options))
        time.sleep(0.05)
        later = [pool.submit(batcher.submit, _features(v, 2), EN, [f"c{v}a", f"c{v}b"], dict(options)) for v in (2, 3)]
        _wait_pending(batcher, 2)
        forward.release.set()
        assert first.result(10) == [(6.0, "a", "c1")]
        assert later[0].result(10) == [(12.0, "a", "c2a"), (12.0, "a", "c2b")]
        assert later[1].result(10) == [(18.0, "a", "c3a"), (18.0, "a", "c3b")]
    assert [rows for rows, _ in forward.calls] == [1, 4]
    assert batcher.stats.merged_calls == 1 and batcher.stats.rows == [1, 4]


def test_incompatible_options_and_row_cap_are_not_merged() -> None:
    forward = RowForward()
    batcher = CrossBatcher(forward, max_rows=3)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, _features(1, 1), EN, ["x"], {"tag": "a"})
        time.sleep(0.05)
        other = pool.submit(batcher.submit, _features(1, 1), EN, ["y"], {"tag": "b"})
        big = [pool.submit(batcher.submit, _features(1, 2), EN, ["p", "q"], {"tag": "a"}) for _ in range(2)]
        _wait_pending(batcher, 3)
        forward.release.set()
        results = [f.result(10) for f in (first, other, *big)]
    assert results[1] == [(6.0, "b", "y")]
    # a: 2+2 rows exceed the cap of 3, so they run in separate calls; b never shares a call with a
    assert sorted(rows for rows, _ in forward.calls) == [1, 1, 2, 2]
    assert batcher.stats.merged_calls == 0


def test_exception_in_merged_call_reaches_every_caller_and_cancel_spares_others() -> None:
    forward = RowForward()
    batcher = CrossBatcher(forward, max_rows=8)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, _features(1, 1), EN, ["x"], {"tag": "a"})
        time.sleep(0.05)
        waiting = [pool.submit(batcher.submit, _features(1, 1), EN, [str(i)], {"tag": "a"}) for i in range(3)]
        _wait_pending(batcher, 3)
        batcher._pending[1].future.cancel()  # a cancelled job is dropped before the call
        forward.fail = True
        forward.release.set()
        for future in (first, waiting[0], waiting[2]):
            with pytest.raises(ValueError, match="model exploded"):
                future.result(10)
        assert waiting[1].exception(10) is not None
    assert [rows for rows, _ in forward.calls] == [1, 2]
    # the batcher is free again afterwards
    forward.fail = False
    assert batcher.submit(_features(2, 1), EN, ["z"], {"tag": "a"}) == [(12.0, "a", "z")]
