"""Helpers of the Dask tests: a real LocalCluster with worker processes, and random stacks."""

from __future__ import annotations

import contextlib

import dask  # the [test] extra installs dask and distributed: a missing one is a failure
import distributed
import numpy as np


def local_cluster(*, work_stealing=True):
    """Yield a Client of a LocalCluster: 2 worker processes of 1 thread, loopback only.

    ``work_stealing=False`` turns off the scheduler's moving of queued tasks between workers,
    for tests of where tasks run (stealing may move a task that may run elsewhere).
    """
    with (
        dask.config.set({"distributed.scheduler.work-stealing": work_stealing}),
        distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@contextlib.contextmanager
def scheduler(kind, client):
    """Make ``kind`` ("threads" or "distributed") the scheduler of every dask call inside."""
    if kind == "threads":
        with dask.config.set(scheduler="threads"):
            yield
    else:
        with client.as_current(), dask.config.set(scheduler=client):
            yield


def random_stack(rng, n, shape, *, dtype="float32", nan=0.05, outliers=0.03):
    """Gaussian frames with NaNs and outliers (integer dtypes: no NaN, clipped to range)."""
    x = rng.normal(1000.0, 20.0, size=(n, *shape))
    hot = rng.random(x.shape) < outliers
    x[hot] += rng.choice([-1.0, 1.0], size=int(hot.sum())) * rng.uniform(200, 900, hot.sum())
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x[rng.random(x.shape) < nan] = np.nan
        return x.astype(dt)
    info = np.iinfo(dt)
    return np.clip(np.round(x * (info.max / 4000.0)), info.min, info.max).astype(dt)


def random_mask(rng, shape, frac=0.05):
    """A bool mask with about ``frac`` True."""
    return rng.random(shape) < frac
