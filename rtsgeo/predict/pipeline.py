"""Run stages of the scene predictor in background threads, with bounded queues.

Threads suffice: rasterio, numpy, shapely and torch release the GIL in their
heavy calls. Each stage is one thread fed through a first-in first-out queue,
so items keep their order and the output never depends on whether a stage
runs in the background. An error in a background stage is raised again in the
calling thread; when the caller stops (an error, Ctrl-C, an early ``break``)
the background thread is stopped and joined before the call returns.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import queue
import threading
from collections.abc import Callable, Generator, Iterable
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ['ConsumeBehind', 'iterate_ahead', 'release_free_memory']

T = TypeVar('T')

# How often a thread blocked on a full queue checks whether it should stop (s).
_POLL_S = 0.05
_DONE = object()


@functools.cache
def _malloc_trim() -> object | None:
    name = ctypes.util.find_library('c')
    try:
        return getattr(ctypes.CDLL(name), 'malloc_trim', None) if name else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc; else nothing).

    Tensors of a few MB freed between long-lived small allocations (the open
    objects of the merge) leave holes that glibc keeps: without this, a
    mapping process's memory grows with the number of tiles mapped instead of
    staying flat. Called once per tile row, it costs well under a millisecond.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]


class _Failure:
    """An exception raised in a background thread, on its way to the caller."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(channel: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put *item*, waiting for room; False if *stop* is set meanwhile."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=_POLL_S)
        except queue.Full:
            continue
        return True
    return False


def iterate_ahead(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """Iterate *items* in a background thread, at most *depth* items ahead.

    Args:
        items: the iterable; it is iterated (and, if a generator, closed) in
            the background thread only.
        depth: most items waiting for the caller (>= 1).

    Yields:
        The items, in order.

    Raises:
        BaseException: whatever iterating *items* raised, when the caller
            reaches that point.
    """
    if depth < 1:
        raise ValueError(f'depth={depth}: use 1 or more')
    channel: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not _put(channel, item, stop):
                    return
            _put(channel, _DONE, stop)
        except BaseException as error:
            _put(channel, _Failure(error), stop)
        finally:
            close = getattr(iterator, 'close', None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name='rtsgeo-ahead', daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class ConsumeBehind(Generic[T]):
    """Calls ``consume(item)`` for each submitted item in a background thread.

    Use as a context manager: leaving the block normally waits for the queued
    items and raises the first error ``consume`` raised; leaving it with an
    exception drops the queued items and stops the thread. :meth:`submit`
    raises that error too, as soon as it is known.
    """

    def __init__(self, consume: Callable[[T], object], depth: int) -> None:
        """Initialise a new ConsumeBehind and start its thread.

        Args:
            consume: called with each item, in submission order.
            depth: most items waiting for the thread (>= 1).
        """
        if depth < 1:
            raise ValueError(f'depth={depth}: use 1 or more')
        self._consume = consume
        self._channel: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name='rtsgeo-behind', daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._channel.get()
            if item is _DONE:
                return
            if self._error is not None or self._stop.is_set():
                continue  # drain, so that no producer waits for room forever
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as error:
                self._error = error

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: T) -> None:
        """Queue *item*, waiting while the queue is full."""
        self._raise()
        while self._thread.is_alive():
            try:
                self._channel.put(item, timeout=_POLL_S)
            except queue.Full:
                self._raise()
                continue
            return
        self._raise()

    def __enter__(self) -> ConsumeBehind[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._stop.set()
        # The thread drains the queue after a stop or an error, so this put
        # always finds room.
        self._channel.put(_DONE)
        self._thread.join()
        if kind is None:
            self._raise()
