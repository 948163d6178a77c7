"""The band loop shared by `combine_files` and ``imc.iraf.imcombine``: reading the next band
while the current one is combined, and the progress bar over bands."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def read_ahead(count: int, read: Callable[[int], T]) -> Iterator[tuple[int, T]]:
    """``(k, read(k))`` for ``k`` in ``range(count)``, ``read(k + 1)`` running in a reader
    thread while the caller works on band ``k``.

    ``read`` alternates between two buffers (``k % 2``) at most: band ``k + 1`` is read while
    band ``k`` is in use, never further ahead. Close the iterator (``contextlib.closing``) when
    leaving the loop early: it waits for the read in flight.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="imc-read") as pool:
        pending = pool.submit(read, 0)
        try:
            for k in range(count):
                got = pending.result()
                if k + 1 < count:
                    pending = pool.submit(read, k + 1)
                yield k, got
        finally:
            pending.cancel()


class BandProgress:
    """A tqdm bar over bands (or a callable ``progress(done, total)``, or nothing).

    Parameters
    ----------
    progress : bool or callable
        True: a bar when there is more than one band; False: none; a callable is called as
        ``progress(done, total)`` after every band.
    total : int
        The number of bands.
    desc : str
        The bar's label.
    """

    def __init__(self, progress: Any, total: int, desc: str) -> None:
        self.callback: Callable[[int, int], Any] | None = None
        self.bar = None
        self.done, self.total = 0, total
        if callable(progress):
            self.callback = progress
        elif progress is True and total > 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="band", leave=False)
        elif not isinstance(progress, bool):
            raise TypeError(
                f"progress must be True, False or a callable(done, total), got {progress!r}"
            )

    def update(self) -> None:
        """One more band done."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
