"""Drive the real IRAF ``imcombine`` task from the tests, headless and in batch.

This module is test support: it runs Debian's IRAF 2.17 command language (``irafcl``)
on a generated script and reads the results back with astropy, so that other tests
can compare :mod:`imcombiners` with IRAF on the same inputs.

The gotchas it handles (see ``docs/iraf-behaviour.md`` section 1):

* ``USER`` must be set, or the global ``login.cl`` kills the CL at start-up.
* ``irafcl`` keeps *learned* parameters under ``$HOME/.iraf/uparm``. Each call runs with
  a fresh temporary ``HOME`` and ``unlearn imcombine``, and sets every parameter it is
  given explicitly.
* ``login.cl`` looks for ``.hushiraf`` in the *working directory*, so it is created
  there (and in the temporary ``HOME``). A ``login.cl`` in the working directory replaces
  the global login, and a ``loginuser.cl`` or ``uparm/`` there is loaded by it, so a
  working directory holding any of them is refused.
* A bad parameter value makes the CL re-ask forever (``... try again``); a script
  without ``logout`` makes it print "use `logout' to log out" forever. Parameters are
  validated against ``imcombine.par`` before running, the output is watched as it
  arrives, and the whole process group is killed with SIGKILL (``ecl.e`` ignores
  SIGTERM) at the first such message or at the time limit. The CL also gets
  ``PR_SET_PDEATHSIG`` so it dies with the Python process.
* A one-line ``if`` swallows the next line; generated scripts use the
  ``if (...)`` / command / ``;`` form.
* imcombine reports its failures as ``Warning: ...`` and writes no output, so the
  output file is checked and its absence raised as :class:`IrafError`.
* Mask products are IRAF pixel lists (``.pl``); they are converted to FITS with
  ``imcopy`` in the same CL session.

Example
-------
>>> import numpy as np                                          # doctest: +SKIP
>>> for i, v in enumerate((1, 2, 3, 4)):                        # doctest: +SKIP
...     write_fits(tmp / f"in{i}.fits", np.full((2, 3), v, np.float32))
>>> res = imcombine(sorted(tmp.glob("in*.fits")), tmp, combine="median",
...                 reject="none", products=["sigma"])          # doctest: +SKIP
>>> res.output[0, 0]                                            # doctest: +SKIP
2.5

In a test module, call :func:`require_iraf` (at module level or in a fixture) to skip
when IRAF is missing, or to fail when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import functools
import io
import math
import numbers
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMCOMBINE_PAR",
    "IRAFCL",
    "PRODUCTS",
    "IrafError",
    "IrafResult",
    "ParSpec",
    "format_params",
    "imcombine",
    "imcombine_par",
    "iraf_available",
    "read_fits",
    "require_iraf",
    "run_cl",
    "write_fits",
]

#: Path of the ``irafcl`` wrapper, or None when it is not on ``PATH``.
IRAFCL: str | None = shutil.which("irafcl")

#: The optional imcombine outputs :func:`imcombine` can produce, mapped to the
#: imcombine parameter that names them.
PRODUCTS: dict[str, str] = {
    "sigma": "sigmas",
    "rejmask": "rejmasks",
    "nrejmask": "nrejmasks",
    "bpmask": "bpmasks",
    "expmask": "expmasks",
}

# Parameters the runner sets itself; passing them in ``**params`` is an error.
_RESERVED = {"input", "output", "logfile", *PRODUCTS.values()}

# CL output that means the CL is stuck in an endless loop: kill it at once.
_HANG_PATTERNS: tuple[bytes, ...] = (b"try again", b"use `logout'")

# Markers written by `!date` around the imcombine call, and at the end of a script.
_T0, _T1, _DONE = "IRAFCL_T0", "IRAFCL_T1", "IRAFCL_DONE"

# Characters that the CL or IMIO would interpret inside an image name.
_BAD_NAME_CHARS = set(" \t\n\r,@$!\"'\\;()[]{}<>|&*?`")

# Keywords astropy derives from the array; a `header` argument may not set them.
_STRUCTURAL_KEYS = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "END"}

# numpy dtype -> BITPIX; uint16 is written as BITPIX 16 with BZERO 32768.
_FITS_DTYPES = {
    np.dtype(np.float32): -32,
    np.dtype(np.float64): -64,
    np.dtype(np.int16): 16,
    np.dtype(np.uint16): 16,
    np.dtype(np.int32): 32,
}

_MAX_TRANSCRIPT = 32 * 1024 * 1024  # bytes; a CL printing more than this is killed


class IrafError(RuntimeError):
    """IRAF failed, hung, or did not write the expected files.

    Parameters
    ----------
    message : str
        What went wrong.
    transcript : str, optional
        Everything the CL printed (stdout and stderr interleaved).
    warnings : list of str, optional
        The transcript lines containing ``Warning`` or ``WARNING``.
    script : str, optional
        The CL script that was run.

    Attributes
    ----------
    transcript, warnings, script
        As given; ``str(err)`` shows the message, the warnings and the transcript's tail.
    """

    def __init__(
        self,
        message: str,
        transcript: str = "",
        warnings: Sequence[str] = (),
        script: str = "",
    ) -> None:
        self.message = message
        self.transcript = transcript
        self.warnings = list(warnings)
        self.script = script
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.warnings:
            parts.append("IRAF warnings:\n  " + "\n  ".join(self.warnings))
        if self.transcript:
            tail = self.transcript.splitlines()[-40:]
            parts.append("CL transcript (last 40 lines):\n  " + "\n  ".join(tail))
        return "\n".join(parts)


@dataclass
class IrafResult:
    """What one :func:`imcombine` call produced.

    Attributes
    ----------
    output : numpy.ndarray
        The combined image as read back, in the dtype IRAF wrote (native byte order).
    sigma, rejmask, nrejmask, bpmask, expmask : numpy.ndarray or None
        The requested products, else None. ``rejmask`` has shape ``(N, *image shape)``
        with plane ``i`` for input ``i``; the masks are int32 (``imcopy`` of the ``.pl``).
    log : str
        The text of imcombine's logfile.
    transcript : str
        Everything the CL printed.
    warnings : list of str
        Transcript lines containing ``Warning`` or ``WARNING``.
    task_seconds : float
        Wall time of the imcombine call alone, from ``!date`` stamps around it inside
        the CL script (includes IRAF reading the inputs and writing the outputs).
    header : dict
        The output's primary header (``NCOMBINE``, ``IMCMB001``, ``EXPTIME``, ...).
        ``COMMENT`` and ``HISTORY`` cards, if any, are lists of strings.
    wall_seconds : float
        Wall time of the whole CL session (start-up, imcombine, imcopy, logout).
    script : str
        The CL script that was run.
    params : dict
        The parameters passed to imcombine, as CL literals.
    """

    output: np.ndarray
    sigma: np.ndarray | None
    rejmask: np.ndarray | None
    nrejmask: np.ndarray | None
    bpmask: np.ndarray | None
    expmask: np.ndarray | None
    log: str
    transcript: str
    warnings: list[str]
    task_seconds: float
    header: dict[str, Any]
    wall_seconds: float = math.nan
    script: str = ""
    params: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Locating IRAF and its parameter file
# --------------------------------------------------------------------------------------


def _iraf_roots() -> list[Path]:
    """Candidate IRAF root directories, most specific first."""
    roots: list[Path] = []
    for var in ("iraf", "IRAF"):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    if IRAFCL:
        # Debian's irafcl is a shell wrapper containing `export iraf="/usr/lib/iraf/"`.
        try:
            text = Path(IRAFCL).read_text(errors="replace")
        except OSError:
            text = ""
        m = re.search(r"""^\s*(?:export\s+)?iraf=["']?([^"'\s]+)""", text, re.MULTILINE)
        if m:
            roots.append(Path(m.group(1)))
    roots += [Path("/usr/lib/iraf"), Path("/iraf/iraf"), Path("/usr/local/iraf")]
    return roots


def _find_imcombine_par() -> Path | None:
    """Return the path of ``imcombine.par`` in the installed IRAF, or None."""
    for root in _iraf_roots():
        for rel in (
            "pkg/images/immatch/imcombine.par",
            "pkg/images/immatch/src/imcombine/imcombine.par",
        ):
            if (root / rel).is_file():
                return root / rel
    return None


#: Path of the installed ``imcombine.par``, or None.
IMCOMBINE_PAR: Path | None = _find_imcombine_par()


@dataclass(frozen=True)
class ParSpec:
    """One line of an IRAF ``.par`` file.

    Attributes
    ----------
    name : str
        Parameter name.
    type : str
        IRAF type letter: ``s`` string, ``f`` file name, ``r`` real, ``i`` integer,
        ``b`` boolean.
    default : str
        The default as written in the par file.
    enum : tuple of str or None
        The allowed values of an enumerated string parameter.
    minimum, maximum : float or None
        Bounds of a numeric parameter (None = unbounded).
    """

    name: str
    type: str
    default: str
    enum: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None


def _parse_par(text: str) -> dict[str, ParSpec]:
    """Parse the text of an IRAF ``.par`` file.

    Each parameter is ``name,type,mode,default,min,max,prompt``; quoted fields may
    contain commas and newlines (``csv`` handles both); ``#`` lines are comments.
    """
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    specs: dict[str, ParSpec] = {}
    for row in csv.reader(io.StringIO(body)):
        if len(row) < 4 or not row[0].strip():
            continue
        name, ptype = row[0].strip(), row[1].strip()[-1:]  # "*s" etc. -> "s"
        default = row[3].strip()
        lo = row[4].strip() if len(row) > 4 else ""
        hi = row[5].strip() if len(row) > 5 else ""
        enum = tuple(lo.split("|")) if ptype in "sf" and "|" in lo else None
        minimum = float(lo) if ptype in "ir" and lo else None
        maximum = float(hi) if ptype in "ir" and hi else None
        specs[name] = ParSpec(name, ptype, default, enum, minimum, maximum)
    return specs


@functools.cache
def imcombine_par() -> dict[str, ParSpec]:
    """Return imcombine's parameters, parsed from the installed ``imcombine.par``.

    Returns
    -------
    dict of str to ParSpec
        In par-file order.

    Raises
    ------
    IrafError
        If no ``imcombine.par`` was found.
    """
    if IMCOMBINE_PAR is None:
        raise IrafError("imcombine.par not found under " + ", ".join(map(str, _iraf_roots())))
    return _parse_par(IMCOMBINE_PAR.read_text())


@functools.cache
def iraf_available() -> tuple[bool, str]:
    """Check that IRAF can run imcombine here (cached for the process).

    It checks that ``irafcl`` is on ``PATH``, that ``irafcl -v`` prints a version,
    that ``imcombine.par`` exists, and that a CL session starts and logs out.

    Returns
    -------
    tuple of (bool, str)
        ``(True, version)``, e.g. ``(True, "Community IRAF V2.17")``, or
        ``(False, reason)``.
    """
    if IRAFCL is None:
        return False, "irafcl is not on PATH (install Debian's `iraf` package)"
    try:
        proc = subprocess.run(
            [IRAFCL, "-v"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"`{IRAFCL} -v` failed: {exc}"
    version = proc.stdout.strip()
    if proc.returncode != 0 or "IRAF" not in version:
        return False, f"`{IRAFCL} -v` printed {version!r} (exit {proc.returncode})"
    if IMCOMBINE_PAR is None:
        return False, "imcombine.par not found (is the IRAF images package installed?)"
    try:
        with tempfile.TemporaryDirectory(prefix="iraf_probe_") as tmp:
            out = run_cl('print ("IRAFCL_PROBE_OK")', tmp, timeout=60)
    except (IrafError, OSError) as exc:
        return False, f"the IRAF CL does not start: {exc}"
    if "IRAFCL_PROBE_OK" not in out:
        return False, "the IRAF CL started but did not run a print statement"
    return True, version


def require_iraf() -> str:
    """Skip the calling test (or module) when IRAF is missing; fail instead if ``CI=true``.

    Call it at module level (``require_iraf()`` right after the imports) or inside a test
    or fixture.

    Returns
    -------
    str
        The IRAF version, when IRAF is available.
    """
    import pytest

    ok, info = iraf_available()
    if ok:
        return info
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"IRAF is required when CI=true, but: {info}", pytrace=False)
    pytest.skip(f"IRAF not available: {info}", allow_module_level=True)
    raise AssertionError("unreachable")  # pragma: no cover (pytest.skip raises)


# --------------------------------------------------------------------------------------
# Running a CL session
# --------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_LIBC: Any = None
if sys.platform.startswith("linux"):
    try:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        _LIBC = None


def _make_preexec(parent_pid: int):
    """Return a ``preexec_fn`` that makes the child die (SIGKILL) with this process."""

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass
class _Session:
    """Raw outcome of one CL process."""

    transcript: str
    returncode: int | None
    killed: str | None  # why the runner killed the CL, or None
    seconds: float


def _child_env(home: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    """Environment for the CL: the caller's, plus ``env``, a private HOME and a USER."""
    out = dict(os.environ)
    if env:
        out.update(env)
    out["HOME"] = str(home)
    if not out.get("USER"):
        out["USER"] = out.get("LOGNAME") or "iraf"
    out["TERM"] = "dumb"  # no xterm/xgterm set-up in login.cl
    return out


def _leader_exited(pid: int) -> bool:
    """True once process ``pid`` has exited, without reaping it (it stays a zombie).

    Keeping the zombie means its pid, which is also the process-group id, cannot be
    reused, so a later ``killpg(pid)`` can only reach processes this runner started.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _run_session(
    script: str, workdir: Path, timeout: float, env: Mapping[str, str] | None
) -> _Session:
    """Run ``script`` (which must end with ``logout``) in a fresh CL and watch it.

    The CL reads the script on stdin, runs in its own session (process group) with
    ``cwd=workdir`` and a temporary HOME, and is killed with SIGKILL, together with
    any IRAF subprocess (``x_images.e``), on a hang pattern or at ``timeout`` seconds.
    """
    if IRAFCL is None:
        raise IrafError("irafcl is not on PATH")
    (workdir / ".hushiraf").touch()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="iraf_home_") as tmp:
        home = Path(tmp)
        (home / ".hushiraf").touch()
        script_path = home / "job.cl"
        script_path.write_text(script)
        with open(script_path, "rb") as stdin:
            proc = subprocess.Popen(
                [IRAFCL],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=_child_env(home, env),
                start_new_session=True,  # own process group, killed as a whole
                preexec_fn=_make_preexec(os.getpid()),  # die with the Python process
            )
        return _watch(proc, start, timeout)


def _watch(proc: subprocess.Popen, start: float, timeout: float) -> _Session:
    """Collect the CL's output until EOF, killing its process group when needed."""
    assert proc.stdout is not None
    chunks: queue.Queue[bytes | None] = queue.Queue()
    fd = proc.stdout.fileno()

    def reader() -> None:
        try:
            while data := os.read(fd, 65536):
                chunks.put(data)
        except OSError:
            pass
        finally:
            chunks.put(None)

    thread = threading.Thread(target=reader, name="irafcl-reader", daemon=True)
    thread.start()

    buf = bytearray()
    killed: str | None = None  # set when the run failed and the runner killed the CL
    kill_time = math.inf
    exit_seen = math.inf

    def kill_group() -> None:
        # Safe while the leader is unreaped (alive or zombie): its pid, which is the
        # process-group id, cannot have been reused by an unrelated process.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def kill(reason: str) -> None:
        nonlocal killed, kill_time
        if killed is None:
            killed, kill_time = reason, time.monotonic()
        kill_group()

    try:
        while True:
            try:
                data = chunks.get(timeout=0.05)
            except queue.Empty:
                data = b""
            if data is None:  # EOF: every holder of the pipe has exited or closed it
                break
            if data:
                scan_from = max(0, len(buf) - 32)  # a pattern may straddle two chunks
                buf += data
                window = bytes(buf[scan_from:])
                for pat in _HANG_PATTERNS:
                    if killed is None and pat in window:
                        kill(f"the CL is looping ({pat.decode()!r}); killed")
                if killed is None and len(buf) > _MAX_TRANSCRIPT:
                    kill(f"the CL printed more than {_MAX_TRANSCRIPT} bytes; killed")
            now = time.monotonic()
            if killed is None and now - start > timeout:
                kill(f"timed out after {timeout:g} s; killed")
            if exit_seen == math.inf and _leader_exited(proc.pid):
                exit_seen = now
            if now - exit_seen > 5.0:
                # The CL has exited but something in its group still holds the pipe:
                # clean up (not an error in itself; the completion marker decides).
                kill_group()
            if now - kill_time > 10.0 or now - exit_seen > 15.0:
                break  # EOF never came; give up on the reader thread (a daemon)
        # After EOF the leader may still be finishing its exit; give it a moment.
        grace_end = time.monotonic() + 5.0
        while not _leader_exited(proc.pid) and time.monotonic() < grace_end:
            time.sleep(0.01)
        if not _leader_exited(proc.pid):
            kill("the CL closed its output but did not exit; killed")
    finally:
        # Always (also on KeyboardInterrupt): sweep the group, then reap the leader.
        kill_group()
        proc.wait()
        proc.stdout.close()
        thread.join(timeout=1.0)

    return _Session(
        transcript=buf.decode("utf-8", errors="replace"),
        returncode=proc.returncode,
        killed=killed,
        seconds=time.monotonic() - start,
    )


def _finish_script(body: str) -> str:
    """Append the completion marker and ``logout`` to a CL script body."""
    lines = body.rstrip().splitlines()
    while lines and lines[-1].strip() in ("logout", "logout;"):
        lines.pop()
    return "\n".join([*lines, f'print ("{_DONE}")', "logout", ""])


def _warnings(transcript: str) -> list[str]:
    """Lines of the transcript containing ``Warning`` or ``WARNING``."""
    return [ln.strip() for ln in transcript.splitlines() if "Warning" in ln or "WARNING" in ln]


def _completed(transcript: str) -> bool:
    """True if the completion marker was printed (not just echoed as a command)."""
    return re.search(rf"^{_DONE}\s*$", transcript, re.MULTILINE) is not None


def run_cl(
    script: str,
    workdir: str | Path,
    *,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> str:
    """Run an arbitrary CL script headless and return everything it printed.

    Parameters
    ----------
    script : str
        CL commands, one per line (e.g. ``'imstatistics ("out.fits")'``). A completion
        marker and ``logout`` are appended (a trailing ``logout`` is dropped). Avoid
        one-line ``if`` statements: write ``if (...)``, the command, then ``;``.
    workdir : str or Path
        The CL's working directory; relative file names are relative to it. It is
        created if missing, and ``.hushiraf`` is created in it.
    timeout : float
        Seconds before the CL is killed.
    env : mapping, optional
        Extra environment variables for the CL (``HOME`` is always a fresh temp dir).
    check : bool
        If True, also raise :class:`IrafError` when a transcript line starts with
        ``ERROR`` (a task or CL error) or ``**`` (a CL syntax error).

    Returns
    -------
    str
        The CL transcript (stdout and stderr), including the echoed commands.

    Raises
    ------
    IrafError
        If the CL hung, timed out, or died before reaching the end of the script.
    """
    if IRAFCL is None:
        raise IrafError("irafcl is not on PATH")
    wd = _prepare_workdir(workdir)
    full = _finish_script(script)
    session = _run_session(full, wd, timeout, env)
    out = session.transcript
    if session.killed:
        raise IrafError(session.killed, out, _warnings(out), full)
    if not _completed(out):
        raise IrafError(
            f"the CL did not reach the end of the script (exit {session.returncode})",
            out,
            _warnings(out),
            full,
        )
    if check and re.search(r"^\s*(\*\*|ERROR)", out, re.MULTILINE):
        raise IrafError("the CL reported an error", out, _warnings(out), full)
    return out


def _prepare_workdir(workdir: str | Path) -> Path:
    """Resolve and create ``workdir``; refuse one whose files ``login.cl`` would load."""
    wd = Path(os.path.abspath(workdir))
    wd.mkdir(parents=True, exist_ok=True)
    for name in ("loginuser.cl", "uparm", "login.cl"):
        if (wd / name).exists():
            raise ValueError(
                f"{wd / name} exists; IRAF's login.cl would load it and leak settings into "
                "the run. Use a clean working directory."
            )
    return wd


# --------------------------------------------------------------------------------------
# FITS I/O
# --------------------------------------------------------------------------------------


def write_fits(
    path: str | Path, array: np.ndarray, header: Mapping[str, Any] | None = None
) -> None:
    """Write ``array`` as a primary-HDU FITS image that IRAF reads in the matching type.

    Parameters
    ----------
    path : str or Path
        Output file (overwritten).
    array : numpy.ndarray
        float32 (BITPIX -32), float64 (-64), int16 (16), uint16 (16 with BZERO 32768,
        read by IRAF as ``ushort``) or int32 (32). Any byte order.
    header : mapping, optional
        Extra keywords, e.g. ``{"EXPTIME": 10.0, "RDNOISE": 5.0, "BPM": "m0.fits"}``.
        A value may be a ``(value, comment)`` tuple. Structural keywords (BITPIX,
        NAXISn, BZERO, ...) are not allowed.

    Raises
    ------
    ValueError
        For an unsupported dtype or a structural keyword.
    """
    from astropy.io import fits

    arr = np.asarray(array)
    if arr.dtype.newbyteorder("=") not in _FITS_DTYPES:
        raise ValueError(
            f"unsupported dtype {arr.dtype}; use float32, float64, int16, uint16 or int32"
        )
    if arr.ndim == 0:
        raise ValueError("cannot write a 0-d array as an image")
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("="), copy=False))
    hdu = fits.PrimaryHDU(data=arr)  # uint16 -> BITPIX 16, BZERO 32768 (astropy's uint)
    for key, value in (header or {}).items():
        k = key.upper()
        if k in _STRUCTURAL_KEYS or re.fullmatch(r"NAXIS\d+", k):
            raise ValueError(f"header keyword {key!r} is set from the array and cannot be given")
        hdu.header[k] = value
    hdu.writeto(path, overwrite=True, output_verify="exception")


def read_fits(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a primary-HDU FITS image.

    Parameters
    ----------
    path : str or Path
        File to read.

    Returns
    -------
    data : numpy.ndarray
        The image in native byte order, with BZERO/BSCALE applied as astropy does
        (so IRAF ``ushort`` comes back as uint16).
    header : dict
        Keyword -> value; ``COMMENT`` and ``HISTORY`` are lists of strings.
    """
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        data = np.asarray(hdul[0].data)
        hdr = hdul[0].header
        out: dict[str, Any] = {}
        for card in hdr.cards:
            key = card.keyword
            if key in ("COMMENT", "HISTORY"):
                out.setdefault(key, []).append(str(card.value))
            elif key:
                out[key] = card.value
    data = data.astype(data.dtype.newbyteorder("="), copy=False)
    return np.ascontiguousarray(data), out


# --------------------------------------------------------------------------------------
# Parameter validation and formatting
# --------------------------------------------------------------------------------------


def _fmt_number(x: Any) -> str:
    """Format a finite real number as a CL numeric literal."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("a bool is not a number here")
    if isinstance(x, numbers.Integral):
        return str(int(x))
    xf = float(x)
    if not math.isfinite(xf):
        raise ValueError(f"{x!r} is not finite (use None for INDEF)")
    if xf.is_integer() and abs(xf) < 1e15:
        return f"{int(xf)}."
    return repr(xf)  # shortest round-trip form, e.g. 0.1, 1e-05, 1.5e+20


def _quote(name: str, s: str) -> str:
    """Quote a string for the CL, refusing characters that would break the script."""
    if any(c in s for c in '"\\\n\r'):
        raise ValueError(f"{name}: string {s!r} contains a quote, backslash or newline")
    return f'"{s}"'


def _fmt_value(spec: ParSpec, value: Any) -> str:
    """Validate one imcombine parameter value and return it as a CL literal.

    Raises ValueError for anything the CL would reject (and then re-ask forever),
    silently change (a fractional integer), or misparse.
    """
    name = spec.name
    if value is None:
        if spec.type == "b":
            raise ValueError(f"{name} is boolean; None (INDEF) is not allowed")
        return "INDEF"
    if spec.type == "b":
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, str) and value.lower() in ("yes", "no"):
            return value.lower()
        raise ValueError(f"{name} is boolean; got {value!r}")
    if spec.type in "ir":
        if isinstance(value, str):
            if value.strip().upper() == "INDEF":
                return "INDEF"
            raise ValueError(f"{name} is numeric; got the string {value!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} is numeric; got {value!r}")
        if spec.type == "i" and not float(value).is_integer():
            # The CL would silently truncate (nlow=0.5 is stored as 0).
            raise ValueError(f"{name} is an integer parameter in imcombine.par; got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            raise ValueError(f"{name}={value!r} is below the minimum {spec.minimum:g}")
        if spec.maximum is not None and value > spec.maximum:
            raise ValueError(f"{name}={value!r} is above the maximum {spec.maximum:g}")
        return str(int(value)) if spec.type == "i" else _fmt_number(value)
    # String or file-name parameter.
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} is a string parameter; got {value!r}")
    if isinstance(value, numbers.Real):
        value = _fmt_number(value)  # e.g. rdnoise=5 -> "5"
    if not isinstance(value, str):
        raise ValueError(f"{name} is a string parameter; got {type(value).__name__}")
    if spec.enum is not None and value not in spec.enum:
        raise ValueError(f"{name}={value!r} is not one of {'|'.join(spec.enum)}")
    return _quote(name, value)


def format_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Validate imcombine parameters against ``imcombine.par`` and format them.

    Parameters
    ----------
    params : mapping
        Parameter name -> Python value: bool -> ``yes``/``no``, None -> ``INDEF``,
        numbers as numbers (quoted for string parameters such as ``rdnoise``), strings
        quoted. Enumerated values must match exactly (the CL would also accept
        abbreviations).

    Returns
    -------
    dict of str to str
        Parameter name -> CL literal, in the given order.

    Raises
    ------
    ValueError
        For an unknown parameter, a value outside an enumeration or the bounds, a
        non-integral value for an integer parameter, or a wrong type.
    """
    specs = imcombine_par()
    out: dict[str, str] = {}
    for name, value in params.items():
        if name not in specs:
            raise ValueError(f"imcombine has no parameter {name!r}")
        out[name] = _fmt_value(specs[name], value)
    return out


def _is_number_list(value: Any) -> bool:
    """True for a list/tuple/array of numbers (not a string)."""
    if isinstance(value, (str, bytes)):
        return False
    return isinstance(value, (Sequence, np.ndarray))


def _write_number_file(path: Path, rows: np.ndarray) -> None:
    """Write numbers one row per line, space-separated."""
    lines = [" ".join(_fmt_number(v) for v in np.atleast_1d(row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _cl_name(path: str | Path, wd: Path) -> str:
    """Name of an input image as written in the @list: relative to ``wd`` if inside it.

    Relative paths are taken relative to the Python process's working directory. An
    IRAF image section or extension (``"a.fits[1:10,*]"``) is kept.
    """
    text = str(path)
    base, section = text, ""
    m = re.fullmatch(r"(.*?)(\[[^\[\]]*\])", text)
    if m:
        base, section = m.group(1), m.group(2)
    p = Path(os.path.abspath(base))  # not resolve(): keep symlinked names as given
    if not p.is_file():
        raise FileNotFoundError(f"input image {p} does not exist")
    try:
        name = str(p.relative_to(wd))
    except ValueError:
        name = str(p)
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if bad:
        raise ValueError(f"input name {name!r} contains characters IRAF would interpret: {bad}")
    return name + section


# --------------------------------------------------------------------------------------
# imcombine
# --------------------------------------------------------------------------------------


def imcombine(
    inputs: Iterable[str | Path],
    workdir: str | Path,
    *,
    products: Iterable[str] = (),
    timeout: float = 300,
    output: str = "iraf_combined.fits",
    env: Mapping[str, str] | None = None,
    **params: Any,
) -> IrafResult:
    """Run IRAF ``imcombine`` once on ``inputs`` and read everything back.

    The runner writes ``<stem>.lis`` (the @list), runs ``unlearn imcombine`` and one
    ``imcombine (input="@<stem>.lis", output=..., <params>)`` between ``!date`` stamps,
    converts the requested ``.pl`` masks to FITS with ``imcopy``, and reads the results
    with astropy. ``<stem>`` is ``output`` without ``.fits``; files the runner names
    (``<stem>.fits``, ``<stem>.log``, ``<stem>_sigma.fits``, ``<stem>_rejmask.pl`` and
    ``.fits``, ...) are deleted first if they exist.

    Parameters
    ----------
    inputs : iterable of str or Path
        Input images in order. Relative paths are relative to the Python process's
        current directory; paths inside ``workdir`` are written relative to it (so
        ``IMCMBnnn`` holds the short names).
    workdir : str or Path
        The CL's working directory (created if missing). Relative names in parameters
        (``BPM`` keywords, ``@files``, ``offsets`` files) are relative to it.
    products : iterable of str
        Any of ``"sigma"``, ``"rejmask"``, ``"nrejmask"``, ``"bpmask"``, ``"expmask"``.
    timeout : float
        Seconds before the CL session is killed.
    output : str
        Output file name inside ``workdir``; must end with ``.fits``.
    env : mapping, optional
        Extra environment variables for the CL (e.g. ``imcombine_maxmemory``).
    **params
        imcombine parameters (``combine="median"``, ``reject="sigclip"``, ``mclip=False``,
        ``lsigma=None`` for INDEF, ``rdnoise="RDNOISE"``, ``nlow=1``, ...). ``scale``,
        ``zero`` and ``weight`` may be sequences of N numbers (written to a file and
        passed as ``"@file"``); ``offsets`` may be an (N, ndim) array of integers
        (written to a file with one ``"x y"`` line per image). ``input``, ``logfile``
        and the product parameters are set by the runner.

    Returns
    -------
    IrafResult
        The output, the requested products, the log, the transcript and timings.

    Raises
    ------
    ValueError
        For invalid parameters (checked against ``imcombine.par`` before running).
    FileNotFoundError
        For a missing input image.
    IrafError
        If IRAF is missing, the CL hung or timed out, or imcombine wrote no output
        (typically after a ``Warning: ...``), or a requested product is missing.
    """
    if IRAFCL is None:
        raise IrafError("irafcl is not on PATH")
    wd = _prepare_workdir(workdir)

    # ---- validate the runner's own arguments -------------------------------------
    if not output.endswith(".fits") or "/" in output or len(output) <= len(".fits"):
        raise ValueError(f"output must be a plain file name ending in .fits; got {output!r}")
    stem = output[: -len(".fits")]
    if set(stem) & _BAD_NAME_CHARS:
        raise ValueError(f"output name {output!r} contains characters IRAF would interpret")
    wanted = list(dict.fromkeys(products))
    unknown = [p for p in wanted if p not in PRODUCTS]
    if unknown:
        raise ValueError(f"unknown products {unknown}; choose from {sorted(PRODUCTS)}")
    reserved = sorted(set(params) & _RESERVED)
    if reserved:
        raise ValueError(
            f"parameters {reserved} are set by the runner (use output=... and products=...)"
        )
    names = [_cl_name(p, wd) for p in inputs]
    n = len(names)
    if n == 0:
        raise ValueError("no input images")

    # ---- numeric lists -> files -------------------------------------------------
    params = dict(params)
    for key in ("scale", "zero", "weight"):
        if key in params and _is_number_list(params[key]):
            values = np.asarray(params[key], dtype=float)
            if values.shape != (n,):
                raise ValueError(f"{key}: expected {n} numbers, got shape {values.shape}")
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{key}: values must be finite")
            path = wd / f"{stem}.{key}.txt"
            _write_number_file(path, values)
            params[key] = "@" + path.name
    if "offsets" in params and _is_number_list(params["offsets"]):
        offs = np.asarray(params["offsets"])
        if offs.ndim == 1:
            offs = offs[:, None]
        if offs.ndim != 2 or offs.shape[0] != n:
            raise ValueError(f"offsets: expected an (N={n}, ndim) array, got {offs.shape}")
        if not np.issubdtype(offs.dtype, np.number) or not np.all(offs == np.round(offs)):
            raise ValueError("offsets must be integers")
        path = wd / f"{stem}.offsets.txt"
        _write_number_file(path, offs.astype(np.int64))
        params["offsets"] = path.name
    cl_params = format_params(params)

    # ---- file names, stale files ------------------------------------------------
    list_file = wd / f"{stem}.lis"
    log_file = wd / f"{stem}.log"
    out_file = wd / output
    product_files: dict[str, tuple[str, Path]] = {}  # product -> (IRAF name, FITS path)
    for prod in wanted:
        if prod == "sigma":
            product_files[prod] = (f"{stem}_sigma.fits", wd / f"{stem}_sigma.fits")
        else:
            product_files[prod] = (f"{stem}_{prod}.pl", wd / f"{stem}_{prod}.fits")
    runner_files = [out_file, log_file, list_file]
    for iraf, fits_path in product_files.values():
        runner_files += [wd / iraf, fits_path]
    input_files = {(wd / re.sub(r"\[[^\[\]]*\]$", "", name)).resolve() for name in names}
    clash = sorted(str(p) for p in runner_files if p.resolve() in input_files)
    if clash:
        raise ValueError(f"the runner would overwrite input images {clash}; choose another output")
    list_file.write_text("\n".join(names) + "\n")
    for path in runner_files[:2] + runner_files[3:]:  # stale results of an earlier run
        path.unlink(missing_ok=True)

    # ---- the script -------------------------------------------------------------
    call = {
        "input": f'"@{list_file.name}"',
        "output": f'"{output}"',
        **{PRODUCTS[p]: f'"{iraf}"' for p, (iraf, _) in product_files.items()},
        "logfile": f'"{log_file.name}"',
        **cl_params,
    }
    args = ",\n    ".join(f"{k}={v}" for k, v in call.items())  # trailing comma continues
    lines = [
        "unlearn imcombine",
        "unlearn imcopy",
        f'!date "+{_T0} %s.%N"',
        f"imcombine ({args})",
        f'!date "+{_T1} %s.%N"',
    ]
    for iraf, fits_path in product_files.values():
        if iraf.endswith(".pl"):
            lines += [
                f'if (access ("{iraf}"))',
                f'    imcopy (input="{iraf}", output="{fits_path.name}", verbose=no)',
                ";",
            ]
    script = _finish_script("\n".join(lines))

    # ---- run ----------------------------------------------------------------------
    session = _run_session(script, wd, timeout, env)
    transcript = session.transcript
    warns = _warnings(transcript)
    if session.killed:
        raise IrafError(session.killed, transcript, warns, script)
    if not _completed(transcript):
        raise IrafError(
            f"the CL did not reach the end of the script (exit {session.returncode})",
            transcript,
            warns,
            script,
        )
    if not out_file.is_file():
        raise IrafError(f"imcombine wrote no output ({output})", transcript, warns, script)
    missing = [p for p, (_, fp) in product_files.items() if not fp.is_file()]
    if missing:
        raise IrafError(f"imcombine did not write products {missing}", transcript, warns, script)

    stamps = {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf"^({_T0}|{_T1}) (\d+\.\d+)\s*$", transcript, re.MULTILINE)
    }
    task_seconds = stamps[_T1] - stamps[_T0] if len(stamps) == 2 else math.nan

    data, header = read_fits(out_file)
    read = {p: read_fits(fp)[0] for p, (_, fp) in product_files.items()}
    log = log_file.read_text(errors="replace") if log_file.is_file() else ""
    return IrafResult(
        output=data,
        sigma=read.get("sigma"),
        rejmask=read.get("rejmask"),
        nrejmask=read.get("nrejmask"),
        bpmask=read.get("bpmask"),
        expmask=read.get("expmask"),
        log=log,
        transcript=transcript,
        warnings=warns,
        task_seconds=task_seconds,
        header=header,
        wall_seconds=session.seconds,
        script=script,
        params=dict(call),
    )
