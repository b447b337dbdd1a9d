"""Background stages: order, errors, and stopping early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from rtsgeo.predict.pipeline import ConsumeBehind, iterate_ahead


def _ours() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith('rtsgeo-')]


@pytest.mark.parametrize('depth', [1, 3])
def test_iterate_ahead_keeps_order_and_runs_in_another_thread(depth: int) -> None:
    where: list[str] = []

    def items() -> Iterator[int]:
        for i in range(20):
            where.append(threading.current_thread().name)
            yield i

    assert list(iterate_ahead(items(), depth)) == list(range(20))
    assert set(where) == {'rtsgeo-ahead'}
    assert _ours() == []


def test_iterate_ahead_stays_within_its_depth() -> None:
    made: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            made.append(i)
            yield i

    ahead = iterate_ahead(items(), 2)
    assert next(ahead) == 0
    time.sleep(0.3)
    # One taken, two queued, one waiting to be queued.
    assert len(made) <= 4
    ahead.close()
    assert _ours() == []


def test_iterate_ahead_raises_the_error_in_order_and_closes_the_source() -> None:
    closed = []

    def items() -> Iterator[int]:
        try:
            yield 1
            yield 2
            raise OSError('read failed at 3')
        finally:
            closed.append(True)

    seen = []
    with pytest.raises(OSError, match='read failed at 3'):
        for item in iterate_ahead(items(), 4):
            seen.append(item)
    assert seen == [1, 2] and closed == [True]
    assert _ours() == []


def test_stopping_early_stops_and_closes_the_source() -> None:
    closed = []

    def items() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)

    for item in (ahead := iterate_ahead(items(), 2)):
        if item == 3:
            break
    ahead.close()
    assert closed == ['rtsgeo-ahead']
    assert _ours() == []


def test_consume_behind_keeps_order_and_waits_at_the_end() -> None:
    seen: list[int] = []

    def slow(item: int) -> None:
        time.sleep(0.001)
        seen.append(item)

    with ConsumeBehind(slow, 2) as behind:
        for i in range(30):
            behind.submit(i)
    assert seen == list(range(30))
    assert _ours() == []


def test_consume_behind_raises_the_first_error() -> None:
    def fail_at_5(item: int) -> None:
        if item == 5:
            raise ValueError('bad item 5')

    with (
        pytest.raises(ValueError, match='bad item 5'),
        ConsumeBehind(fail_at_5, 2) as behind,
    ):
        for i in range(50):
            behind.submit(i)
    assert _ours() == []


def test_consume_behind_drops_its_queue_when_the_caller_fails() -> None:
    seen: list[int] = []
    release = threading.Event()

    def blocked(item: int) -> None:
        release.wait()
        seen.append(item)

    with pytest.raises(KeyboardInterrupt), ConsumeBehind(blocked, 3) as behind:
        for i in range(3):
            behind.submit(i)
        release.set()
        raise KeyboardInterrupt
    assert len(seen) <= 1
    assert _ours() == []


def test_depth_is_checked() -> None:
    with pytest.raises(ValueError, match='depth=0'):
        next(iterate_ahead([1], 0))
    with pytest.raises(ValueError, match='depth=0'):
        ConsumeBehind(print, 0)


def test_release_free_memory_finds_glibc_trim_on_linux() -> None:
    import platform

    from rtsgeo.predict.pipeline import _malloc_trim, release_free_memory

    release_free_memory()  # never raises, whatever the C library
    if platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc':
        assert _malloc_trim() is not None
