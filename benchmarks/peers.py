"""Who competes on each workload method: this package, NumPy, bottleneck, ccdproc, 0.1.1.

In-process contenders are a ``Contender`` whose ``build`` turns the stack into a no-argument
call (any set-up, such as wrapping frames in ``CCDData``, happens in ``build``, untimed).
The public imcombiners 0.1.1 runs in its own virtual environment, behind ``RemotePeer``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE / ".peers" / "imc011" / "bin" / "python"
PEER_NAME = "imcombiners 0.1.1"

Role = Literal["ours", "peer", "reference", "floor"]
Pace = Literal["fast", "slow", "slowest"]
Call = Callable[[], object]


@dataclass(frozen=True, kw_only=True)
class Contender:
    """One row of the table: a library call on the workload's stack.

    ``role`` says how the row is read (``ours`` is the ratio's denominator, ``reference`` is
    ``np.mean``, ``floor`` a bandwidth floor); ``pace`` picks the number of timed rounds.
    """

    name: str
    library: str
    role: Role
    build: Callable[[np.ndarray], Call]
    pace: Pace = "fast"


def ours_threads() -> int:
    """Thread count of this package, or the usable cores when it is not importable."""
    try:
        import imcombiners as imc  # optional: the harness runs without it
    except ImportError:
        return len(os.sched_getaffinity(0))
    return int(imc.get_num_threads())


def _ours(method: str) -> Callable[[np.ndarray], Call]:
    def build(stack: np.ndarray) -> Call:
        import imcombiners as imc  # imported only when this row runs

        kernel = getattr(imc.kernels, method)
        return lambda: kernel(stack)

    return build


def _numpy(func: Callable[..., object]) -> Callable[[np.ndarray], Call]:
    return lambda stack: lambda: func(stack, axis=0)


def _bottleneck(name: str) -> Callable[[np.ndarray], Call]:
    def build(stack: np.ndarray) -> Call:
        import bottleneck as bn

        func = getattr(bn, name)
        return lambda: func(stack, axis=0)

    return build


def _ccdproc(method: str) -> Callable[[np.ndarray], Call]:
    """``ccdproc.combine`` on CCDData views of the frames; float32 work dtype, never chunked."""

    def build(stack: np.ndarray) -> Call:
        import ccdproc
        from astropy.nddata import CCDData

        frames = [CCDData(frame, unit="adu", copy=False) for frame in stack]

        def call() -> object:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ccdproc.combine(frames, method=method, mem_limit=64e9, dtype=np.float32)

        return call

    return build


def _floor(threads: int | None) -> Callable[[np.ndarray], Call]:
    """One streaming read of the stack: ``np.max`` over its flat view, split over threads.

    NumPy releases the GIL inside the reduction, so ``threads`` contiguous chunks are read
    in parallel; ``None`` means this package's thread count.
    """

    def build(stack: np.ndarray) -> Call:
        flat = np.ascontiguousarray(stack).reshape(-1)
        n = ours_threads() if threads is None else threads
        if n == 1:
            return flat.max
        chunks = np.array_split(flat, n)
        pool = ThreadPoolExecutor(max_workers=n)
        return lambda: max(pool.map(np.max, chunks))

    return build


# The rejection workloads: sigma clip (3, 3), maxiters 5, median centre, std spread; min/max
# clip (1, 1). "chained" keeps the diagnostics (Chained Combiner), the plain name is the fused
# output-only path (Standard Combiner, diagnostics=None).
def _ours_rejection(rule: str, combine: str, *, chained: bool) -> Callable[[np.ndarray], Call]:
    def build(stack: np.ndarray) -> Call:
        import imcombiners as imc

        def make() -> object:
            if rule == "sigclip":
                return imc.SigClip(sigma=(3.0, 3.0), maxiters=5, cenfunc="median", stdfunc="std")
            return imc.MinMaxClip(n_min=1, n_max=1)

        if chained:
            return lambda: imc.Combiner(stack).reject(make()).combine(combine)
        return lambda: imc.Combiner(stack).combine(combine, rejectors=make())

    return build


def _astropy_sigclip(combine: str) -> Callable[[np.ndarray], Call]:
    """astropy's C path (built-in cenfunc/stdfunc, axis given) then NumPy's NaN-aware combine.

    Its "std" is the spread about the mean, ours about the clipping centre (the median here):
    the results differ slightly by design, so this row is timed but not cross-checked.
    """

    def build(stack: np.ndarray) -> Call:
        from astropy.stats import sigma_clip

        reduce = np.nanmean if combine == "mean" else np.nanmedian

        def call() -> object:
            clipped = sigma_clip(
                stack,
                sigma=3.0,
                maxiters=5,
                cenfunc="median",
                stdfunc="std",
                axis=0,
                masked=False,
            )
            return reduce(clipped, axis=0)

        return call

    return build


FLOOR_1 = Contender(name="floor: np.max 1 thread", library="numpy", role="floor", build=_floor(1))
FLOOR_T = Contender(
    name="floor: np.max T threads", library="numpy", role="floor", build=_floor(None)
)
NP_MEAN = Contender(name="np.mean", library="numpy", role="reference", build=_numpy(np.mean))

CONTENDERS: dict[str, list[Contender]] = {
    "median": [
        Contender(name="imcombiners", library="imcombiners", role="ours", build=_ours("median")),
        Contender(
            name="np.median", library="numpy", role="peer", build=_numpy(np.median), pace="slow"
        ),
        Contender(
            name="np.nanmedian",
            library="numpy",
            role="peer",
            build=_numpy(np.nanmedian),
            pace="slow",
        ),
        Contender(
            name="bn.median",
            library="bottleneck",
            role="peer",
            build=_bottleneck("median"),
            pace="slow",
        ),
        Contender(
            name="bn.nanmedian",
            library="bottleneck",
            role="peer",
            build=_bottleneck("nanmedian"),
            pace="slow",
        ),
        Contender(
            name="ccdproc.combine median",
            library="ccdproc",
            role="peer",
            build=_ccdproc("median"),
            pace="slowest",
        ),
        NP_MEAN,
        FLOOR_1,
        FLOOR_T,
    ],
    "mean": [
        Contender(name="imcombiners", library="imcombiners", role="ours", build=_ours("mean")),
        NP_MEAN,
        Contender(
            name="np.nanmean", library="numpy", role="peer", build=_numpy(np.nanmean), pace="slow"
        ),
        Contender(
            name="bn.nanmean", library="bottleneck", role="peer", build=_bottleneck("nanmean")
        ),
        Contender(
            name="ccdproc.combine average",
            library="ccdproc",
            role="peer",
            build=_ccdproc("average"),
            pace="slowest",
        ),
        FLOOR_1,
        FLOOR_T,
    ],
}

for _method, (_rule, _combine) in {
    "sigclip_mean": ("sigclip", "mean"),
    "minmax_mean": ("minmax", "mean"),
    "sigclip_median": ("sigclip", "median"),
}.items():
    for _chained in (False, True):
        rows = [
            Contender(
                name="imcombiners chained" if _chained else "imcombiners",
                library="imcombiners",
                role="ours",
                build=_ours_rejection(_rule, _combine, chained=_chained),
            ),
            NP_MEAN,
            FLOOR_T,
        ]
        if _rule == "sigclip" and not _chained:
            rows.insert(
                1,
                Contender(
                    name=f"astropy sigma_clip + np.nan{_combine}",
                    library="astropy",
                    role="peer",
                    build=_astropy_sigclip(_combine),
                    pace="slow",
                ),
            )
        CONTENDERS[_method + ("_chained" if _chained else "")] = rows


def _ours_grow(grow: float | None) -> Callable[[np.ndarray], Call]:
    """SigClip(3, 3) x 5 about the median, then the median, with or without grow."""

    def build(stack: np.ndarray) -> Call:
        import imcombiners as imc

        rule = imc.SigClip(sigma=(3.0, 3.0), maxiters=5, cenfunc="median", stdfunc="std")
        return lambda: imc.Combiner(stack).combine("median", rejectors=rule, grow=grow)

    return build


CONTENDERS["sigclip_median_grow"] = [
    Contender(name="imcombiners", library="imcombiners", role="ours", build=_ours_grow(1.0)),
    Contender(
        name="imcombiners, no grow",
        library="imcombiners",
        role="reference",
        build=_ours_grow(None),
    ),
    NP_MEAN,
    FLOOR_T,
]


def _ours_variance(*, with_variance: bool) -> Callable[[np.ndarray], Call]:
    """SigClip(3, 3) x 5 about the median, then the mean; with a full float32 variance plane
    (the propagated variance computed too: twice the bytes read) or on the data alone."""

    def build(stack: np.ndarray) -> Call:
        import imcombiners as imc

        if not with_variance:
            return lambda: imc.ndcombine(stack, reject="sigclip")
        var = np.full(stack.shape, 100.0, dtype=np.float32)
        return lambda: imc.ndcombine(stack, reject="sigclip", variance=var, return_variance=True)[0]

    return build


CONTENDERS["sigclip_mean_variance"] = [
    Contender(
        name="imcombiners",
        library="imcombiners",
        role="ours",
        build=_ours_variance(with_variance=True),
    ),
    Contender(
        name="imcombiners, data only",
        library="imcombiners",
        role="reference",
        build=_ours_variance(with_variance=False),
    ),
    NP_MEAN,
    FLOOR_T,
]


# The reference whose result every other row's result is checked against, per method.
def _ours_scaled(*, scaled: bool) -> Callable[[np.ndarray], Call]:
    """Median scaling (normalised to frame 0), sigma clip (3, 3) x 5, mean; or the same unscaled."""

    def build(stack: np.ndarray) -> Call:
        import imcombiners as imc

        rule = imc.SigClip(sigma=(3.0, 3.0), maxiters=5, cenfunc="median", stdfunc="std")
        scale = "median" if scaled else None
        return lambda: imc.Combiner(stack).combine("mean", scale=scale, rejectors=rule)

    return build


def _ccdproc_scaled(stack: np.ndarray) -> Call:
    """``ccdproc.combine`` with median scaling to frame 0 and 3-sigma clipping (one pass)."""
    import ccdproc
    from astropy.nddata import CCDData

    frames = [CCDData(frame, unit="adu", copy=False) for frame in stack]
    ref = float(np.median(stack[0]))

    def call() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ccdproc.combine(
                frames,
                method="average",
                scale=lambda a: ref / np.median(a),
                sigma_clip=True,
                sigma_clip_low_thresh=3,
                sigma_clip_high_thresh=3,
                sigma_clip_func=np.ma.median,
                sigma_clip_dev_func=np.ma.std,
                mem_limit=64e9,
                dtype=np.float32,
            )

    return call


CONTENDERS["scaled_sigclip_mean"] = [
    Contender(
        name="imcombiners", library="imcombiners", role="ours", build=_ours_scaled(scaled=True)
    ),
    Contender(
        name="imcombiners, no scaling",
        library="imcombiners",
        role="reference",
        build=_ours_scaled(scaled=False),
    ),
    Contender(
        name="ccdproc.combine scale+sigma_clip",
        library="ccdproc",
        role="peer",
        build=_ccdproc_scaled,
        pace="slowest",
    ),
    NP_MEAN,
    FLOOR_T,
]

CHECK_AGAINST: dict[str, str] = {
    "median": "np.median",
    "mean": "np.mean",
    **{m: "imcombiners" for m in ("sigclip_mean", "minmax_mean", "sigclip_median")},
    **{
        f"{m}_chained": "imcombiners chained"
        for m in ("sigclip_mean", "minmax_mean", "sigclip_median")
    },
    "scaled_sigclip_mean": "imcombiners",
    "sigclip_median_grow": "imcombiners",
    "sigclip_mean_variance": "imcombiners, data only",
}


def find(method: str, name: str) -> Contender:
    """The in-process contender called ``name`` for ``method``."""
    for contender in CONTENDERS[method]:
        if contender.name == name:
            return contender
    raise KeyError(f"no contender {name!r} for method {method!r}")


class PeerError(RuntimeError):
    """The 0.1.1 worker is missing, failed, or cannot run this workload."""


class RemotePeer:
    """Client of ``peer_worker.py`` running under the 0.1.1 virtual environment's Python."""

    def __init__(self, python: Path = PEER_PYTHON) -> None:
        if not python.exists():
            raise PeerError(f"{python} missing: run benchmarks/setup_peers.sh")
        self._proc = subprocess.Popen(
            [str(python), str(HERE / "peer_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.info = self.ask({"op": "hello"})
        if self.info.get("imcombiners") is None:
            self.close()
            raise PeerError("imcombiners is not importable in the 0.1.1 environment")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its reply; a failed request raises ``PeerError``."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise PeerError(f"worker exited (code {self._proc.wait()})")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise PeerError(reply["error"])
        return reply

    def close(self) -> None:
        """Ask the worker to quit and wait for it."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write('{"op": "quit"}\n')
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            self._proc.wait(timeout=60)


def remote_memory(key: str, *, quick: bool, timeout: float) -> dict[str, Any]:
    """Peak extra memory of one 0.1.1 call, measured by a fresh worker process."""
    if not PEER_PYTHON.exists():
        return {"ok": False, "error": "0.1.1 environment missing"}
    cmd = [str(PEER_PYTHON), str(HERE / "peer_worker.py"), "--memory", key]
    return _run_json(cmd + (["--quick"] if quick else []), timeout=timeout)


def local_memory(key: str, name: str, *, quick: bool, timeout: float) -> dict[str, Any]:
    """Peak extra memory of one in-process contender call, measured in a fresh process."""
    cmd = [sys.executable, str(HERE / "memprobe.py"), key, name]
    return _run_json(cmd + (["--quick"] if quick else []), timeout=timeout)


def _run_json(cmd: list[str], *, timeout: float) -> dict[str, Any]:
    """Run ``cmd`` and parse the JSON object on the last line of its output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {"ok": False, "error": tail[0]}
    return json.loads(lines[-1])
