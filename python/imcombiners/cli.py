"""The ``imcombine`` command: combine FITS images from the shell.

Two styles of command line are accepted::

    imcombine raw/bias*.fits -o master.fits --reject sigclip --sigma 3     # flags
    imcombine @bias.lis master.fits combine=median reject=sigclip           # IRAF's parameters

The first runs `imcombiners.combine_files` (the stack is read in bands within a memory limit),
the second `imcombiners.iraf.imcombine` (IRAF IMCOMBINE's parameters and arithmetic). Any
argument of the form ``name=value`` selects the IRAF style. ``imcombine demo`` writes a sample
set of bias frames, combines it and checks the result.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import glob
import inspect
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROG = "imcombine"

#: Exit statuses.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

# IMCOMBINE parameters the IRAF style accepts, with how their values are read.
_IRAF_KINDS: dict[str, str] = {
    "combine": "str",
    "reject": "str",
    "outtype": "str",
    "offsets": "str",
    "masktype": "str",
    "maskvalue": "int",
    "blank": "real",
    "scale": "str",
    "zero": "str",
    "weight": "str",
    "statsec": "str",
    "expname": "str",
    "lthreshold": "indef",
    "hthreshold": "indef",
    "nlow": "int",
    "nhigh": "int",
    "nkeep": "int",
    "mclip": "bool",
    "lsigma": "indef",
    "hsigma": "indef",
    "rdnoise": "str",
    "gain": "str",
    "snoise": "str",
    "sigscale": "indef",
    "pclip": "indef",
    "grow": "real",
    "hdu": "hdu",
    "iraf_defects": "bool",
}

# IRAF's output-name parameters -> the product of imc.iraf.imcombine they name.
_IRAF_PRODUCTS = {
    "sigmas": "sigma",
    "rejmasks": "rejmask",
    "nrejmasks": "nrejmask",
    "bpmasks": "bpmask",
    "expmasks": "expmask",
}

# IMCOMBINE parameters that imcombiners does not implement.
_IRAF_UNSUPPORTED = ("headers", "imcmb", "logfile", "project", "outlimits")

# Conventional-style product flags -> the product of imc.combine_files they name.
_FLAG_PRODUCTS = {
    "sigma_out": "sigma",
    "variance_out": "variance",
    "nrej_out": "nrej",
    "ncombine_out": "ncombine",
    "low_out": "low",
    "high_out": "high",
    "rejmask_out": "rejmask",
}

# Conventional-style rejection flags and the --reject values they apply to.
_REJECT_FLAGS = {
    "sigma": ("sigclip", "ccdclip", "pclip"),
    "maxiters": ("sigclip", "ccdclip"),
    "cenfunc": ("sigclip", "ccdclip"),
    "nkeep": ("sigclip", "ccdclip", "pclip"),
    "nlow": ("minmax",),
    "nhigh": ("minmax",),
    "gain": ("ccdclip",),
    "rdnoise": ("ccdclip",),
    "snoise": ("ccdclip",),
    "pclip": ("pclip",),
    "grow": ("sigclip", "ccdclip", "pclip", "minmax"),
}

_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz")


class CliError(Exception):
    """A failure reported as one line ``imcombine: error: ...`` with an exit status."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imcombine`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 for an error (bad input, existing output ...), 2 for
        a usage error, 130 when interrupted.

    Examples
    --------
    >>> from imcombiners.cli import main
    >>> main(["raw/bias*.fits", "-o", "master.fits", "--reject", "sigclip"])  # doctest: +SKIP
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with _cli_warnings():
            if args and args[0] == "demo":
                return _run_demo(args[1:])
            if any(_is_key_value(a) for a in args):
                return _run_iraf(args)
            return _run_flags(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return INTERRUPTED
    except CliError as exc:
        _error(str(exc))
        return exc.status
    except SystemExit as exc:  # argparse: --help, or a usage error it has already printed
        return exc.code if isinstance(exc.code, int) else (OK if exc.code is None else USAGE)
    except ImportError as exc:
        needs = " (reading and writing FITS files needs astropy)" if "astropy" in str(exc) else ""
        _error(f"{_describe(exc)}{needs}")
        return FAILED
    except _expected_errors() as exc:
        _error(_describe(exc))
        return FAILED


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(message.split())


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, TypeError, KeyError)
    with contextlib.suppress(ImportError):
        from astropy.io.fits.verify import VerifyError

        errors += (VerifyError,)
    return errors


@contextlib.contextmanager
def _cli_warnings() -> Iterator[None]:
    """Show warnings as ``imcombine: warning: ...`` lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{PROG}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _is_key_value(arg: str) -> bool:
    return not arg.startswith("-") and bool(_KEY_VALUE.match(arg))


# --------------------------------------------------------------------------------------------
# Inputs and outputs shared by both styles


def expand_inputs(items: Sequence[str], *, split_commas: bool = False) -> list[str]:
    """The image paths named by command-line arguments.

    Parameters
    ----------
    items : sequence of str
        Paths, glob patterns (``raw/bias*.fits``) and ``@list`` files (one path per line; blank
        lines and ``#`` comments are skipped; a relative path is taken from the current folder
        when it exists there, else from the list's folder).
    split_commas : bool, default False
        Also split each item at commas (IRAF's ``a.fits,b.fits``).

    Returns
    -------
    list of str
        The paths, in order (the matches of a pattern sorted by name).

    Raises
    ------
    CliError
        When a pattern matches nothing, a list does not exist, or no path is left.

    Examples
    --------
    >>> expand_inputs(["a.fits,b.fits", "c.fits"], split_commas=True)
    ['a.fits', 'b.fits', 'c.fits']
    """
    paths: list[str] = []
    for item in items:
        for part in item.split(",") if split_commas else [item]:
            part = part.strip()
            if not part:
                continue
            if part.startswith("@"):
                paths.extend(_read_list(part[1:]))
            elif any(c in part for c in "*?[") and not os.path.exists(part):
                matches = sorted(glob.glob(part))
                if not matches:
                    raise CliError(
                        f"no file matches {part!r} (image sections and extensions in names are "
                        "not supported: name the extension with hdu= or --hdu)"
                    )
                paths.extend(matches)
            else:
                paths.append(part)
    if not paths:
        raise CliError("no input images given", USAGE)
    return paths


def _read_list(name: str) -> list[str]:
    path = Path(name)
    if not path.is_file():
        raise CliError(f"list file {name} does not exist")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read list file {name}: {_describe(exc)}") from None
    out = []
    for line in lines:
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        p = Path(entry).expanduser()
        out.append(str(p if p.is_absolute() or p.exists() else path.parent / p))
    if not out:
        raise CliError(f"list file {name} names no images")
    return out


def _check_inputs(paths: Sequence[str]) -> None:
    for p in paths:
        if not os.path.exists(p):
            raise CliError(f"input file {p} does not exist")
        if os.path.isdir(p):
            raise CliError(f"input {p} is a folder, not a FITS file")
        if not os.access(p, os.R_OK):
            raise CliError(f"cannot read input file {p}: permission denied")


def _check_outputs(outputs: Mapping[str, str], inputs: Sequence[str], overwrite: bool) -> None:
    """Refuse outputs that exist (without --overwrite), repeat, or would replace an input."""
    input_files = {os.path.realpath(p) for p in inputs}
    seen: dict[str, str] = {}
    for label, path in outputs.items():
        real = os.path.realpath(path)
        if real in seen:
            raise CliError(f"{label} and {seen[real]} name the same file {path}")
        seen[real] = label
        if real in input_files:
            raise CliError(f"{label} {path} is one of the inputs; inputs are never overwritten")
        if os.path.isdir(real):
            raise CliError(f"{label} {path} is a folder")
        if not os.path.isdir(os.path.dirname(real)):
            raise CliError(f"the folder of {label} {path} does not exist")
        if os.path.lexists(path) and not overwrite:
            raise CliError(f"{label} {path} exists; give --overwrite to replace it")


def _input_bytes(paths: Sequence[str]) -> int:
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


@contextlib.contextmanager
def _thread_count(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    import imcombiners as imc

    with imc.threads(n):
        yield


def _print_table(rows: Sequence[dict[str, Any]], stat_name: str, max_rows: int = 0) -> None:
    """One line per frame: name, statistic, zero, scale, weight, rejected fraction (%).

    Unknown values (None) print as ``-``. With ``max_rows`` > 0 the middle of a longer table is
    left out.
    """
    names = [r["name"] for r in rows]
    if len({os.path.basename(n) for n in names}) == len(names):
        names = [os.path.basename(n) for n in names]
    width = max(5, *(len(n) for n in names))

    def cell(value: float | None, fmt: str, w: int) -> str:
        return f"{'-':>{w}}" if value is None else f"{value + 0.0:>{w}{fmt}}"

    print(
        f"{'frame':<{width}}  {stat_name:>10}  {'zero':>10}  {'scale':>9}  {'weight':>8}  "
        f"{'rej %':>6}"
    )
    shown = list(range(len(rows)))
    if 0 < max_rows < len(rows):
        half = max_rows // 2
        shown = [*range(half), -1, *range(len(rows) - half, len(rows))]
    for i in shown:
        if i < 0:
            print(f"{'...':<{width}}  ({len(rows) - 2 * half} more frames)")
            continue
        r = rows[i]
        rej = None if r["rejected"] is None else 100.0 * r["rejected"]
        print(
            f"{names[i]:<{width}}  {cell(r['stat'], '.6g', 10)}  {cell(r['zero'], '.6g', 10)}  "
            f"{cell(r['scale'], '.6g', 9)}  {cell(r['weight'], '.4g', 8)}  {cell(rej, '.2f', 6)}"
        )


def _print_timing(n: int, shape: tuple[int, ...], seconds: float, nbytes: int, extra: str) -> None:
    size = " x ".join(str(s) for s in shape)
    rate = nbytes / 1e6 / seconds if seconds > 0 else float("inf")
    print(
        f"combined {n} frames of {size} in {seconds:.3f} s "
        f"({nbytes / 1e6:.1f} MB read, {rate:.1f} MB/s{extra})"
    )


# --------------------------------------------------------------------------------------------
# Help


def _iraf_defaults() -> dict[str, Any]:
    from .iraf import imcombine

    params = inspect.signature(imcombine).parameters
    return {name: params[name].default for name in _IRAF_KINDS if name in params}


def _iraf_syntax(value: Any) -> str:
    if value is None:
        return "INDEF"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value and " " not in value else f'"{value}"'
    return str(value)


def _epilog() -> str:
    defaults = " ".join(f"{k}={_iraf_syntax(v)}" for k, v in _iraf_defaults().items())
    wrap = textwrap.TextWrapper(width=90, initial_indent="    ", subsequent_indent="    ")
    products = " ".join(f"{k}=FILE" for k in _IRAF_PRODUCTS)
    return f"""\
conventional style: flags, combined by imcombiners.combine_files, which reads the inputs in
bands so that the work stays within --mem-limit:
  imcombine raw/bias*.fits -o master_bias.fits --reject sigclip --sigma 3
  imcombine @flats.txt -o flat.fits --combine mean --scale median \\
      --reject ccdclip --gain 1.5 --rdnoise 4.2 --sigma-out flat_sigma.fits
  imcombine 'sci/*.fits' -o sum.fits --combine sum --hdu SCI --masks DQ --mem-limit 256MB

IRAF style: IRAF IMCOMBINE's parameters and arithmetic (imcombiners.iraf.imcombine; the stack
is read into memory). Any argument of the form name=value selects this style:
  imcombine @bias.lis Zero.fits combine=median reject=minmax nlow=1 nhigh=1
  imcombine 'raw/flat*.fits' Flat combine=average reject=avsigclip scale=mode \\
      lsigma=3 hsigma=3 sigmas=Flat_sigma
  INPUT is an @list, a comma-separated list or a glob pattern; OUTPUT a FITS file (".fits" is
  appended to names without a FITS suffix, as IRAF does). Values take IRAF's syntax: yes/no,
  INDEF, numbers, and strings (quotes optional). The parameters, with their (IRAF) defaults
  (hdu and iraf_defects are imcombiners' additions; see docs/iraf.md):
{wrap.fill(defaults)}
  Output products, written to the files named (none by default):
{wrap.fill(products)}
  --overwrite, --threads, --no-progress and -q work in this style too; the flags of the
  conventional style do not (use one style or the other).

demo:
  imcombine demo [--frames 20] [--size 1024] [--keep DIR]
  writes a sample set of uint16 bias frames with read noise and cosmic rays, combines them
  and checks the result (see imcombine demo --help).

Both styles print a table of the frames (statistic, zero, scale, weight, rejected fraction)
and the timing. An existing output is an error unless --overwrite is given; inputs are never
modified. Exit status: 0 done, 1 error, 2 usage error, 130 interrupted.
"""


def _flag_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=(
            f"{PROG} INPUT [INPUT ...] -o OUTPUT [options]      (conventional style)\n"
            f"       {PROG} INPUT OUTPUT [name=value ...] [--overwrite]  (IRAF style)\n"
            f"       {PROG} demo [--frames N] [--size PIXELS] [--keep DIR]"
        ),
        description=(
            "Combine FITS images into one (median, mean, sum, ...) with pixel rejection.\n"
            "Two styles of command line are accepted: conventional flags, or IRAF IMCOMBINE's\n"
            "name=value parameters (see the examples below)."
        ),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="FITS files, glob patterns ('raw/*.fits') or @list files (one path per line)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", required=True, help="the combined image (FITS)")
    out.add_argument("--overwrite", action="store_true", help="replace existing output files")
    for flag, what in [
        ("--sigma-out", "standard deviation of the combined samples"),
        ("--variance-out", "variance of the combined samples"),
        ("--nrej-out", "number of rejected samples per pixel"),
        ("--ncombine-out", "number of combined samples per pixel"),
        ("--low-out", "number of rejected samples below the result per pixel"),
        ("--high-out", "number of rejected samples at or above the result per pixel"),
        ("--rejmask-out", "per-frame mask of the rejected samples (N planes)"),
    ]:
        out.add_argument(flag, metavar="PATH", help=f"write the {what} to PATH")

    comb = parser.add_argument_group("combining")
    comb.add_argument(
        "--combine",
        default="median",
        metavar="METHOD",
        help="median (default), mean, lmedian, sum, min, max, variance, weighted_average",
    )
    comb.add_argument(
        "--thresholds",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="ignore raw values outside [LOW, HIGH]",
    )
    comb.add_argument(
        "--zero",
        metavar="Z",
        help="subtract per frame: mean, median, mode, !KEYWORD, a number or N numbers a,b,c",
    )
    comb.add_argument("--scale", metavar="S", help="divide each frame by it (as --zero)")
    comb.add_argument(
        "--weights",
        metavar="W",
        help="frame weights: mean, median, mode, !KEYWORD or N numbers a,b,c",
    )
    comb.add_argument("--hdu", default="0", help="FITS extension number or name (default 0)")
    comb.add_argument(
        "--masks",
        metavar="MASKS",
        help="bad-pixel masks: an extension of each input (e.g. DQ) or an @list of mask files",
    )
    comb.add_argument(
        "--mem-limit",
        metavar="SIZE",
        help="memory for the stack, e.g. 512MB, 2GiB or bytes (default: combine_files')",
    )

    rej = parser.add_argument_group("rejection")
    rej.add_argument(
        "--reject",
        default="none",
        choices=("none", "sigclip", "minmax", "ccdclip", "pclip"),
        help="rejection rule (default none)",
    )
    rej.add_argument(
        "--sigma",
        nargs="+",
        type=float,
        metavar="SIGMA",
        help="clipping limits: LOW HIGH, or one value for both (default 3)",
    )
    rej.add_argument("--maxiters", type=int, help="most clipping passes (default 5)")
    rej.add_argument(
        "--cenfunc", choices=("median", "mean"), help="clipping centre (default median)"
    )
    rej.add_argument("--nkeep", type=int, help="fewest samples a pass may leave (default 1)")
    rej.add_argument(
        "--nlow", type=float, help="minmax: lowest samples rejected, count or fraction (1)"
    )
    rej.add_argument(
        "--nhigh", type=float, help="minmax: highest samples rejected, count or fraction (1)"
    )
    rej.add_argument("--gain", type=float, help="ccdclip: electrons per ADU (default 1)")
    rej.add_argument("--rdnoise", type=float, help="ccdclip: read noise in electrons (0)")
    rej.add_argument("--snoise", type=float, help="ccdclip: sensitivity noise fraction (0)")
    rej.add_argument("--pclip", type=float, help="pclip: rank offset or fraction (-0.5)")
    rej.add_argument("--grow", type=float, help="also reject neighbours within this radius")

    run = parser.add_argument_group("running")
    run.add_argument("--threads", type=int, metavar="N", help="worker threads")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return parser


# --------------------------------------------------------------------------------------------
# Conventional style


def _number_or_name(text: str | None) -> Any:
    """None, a float, a list of floats (``a,b,c``) or the text itself (a statistic, !KEY)."""
    if text is None:
        return None
    s = text.strip()
    if "," in s:
        try:
            return [float(w) for w in s.split(",")]
        except ValueError:
            raise CliError(f"{text!r}: expected comma-separated numbers") from None
    try:
        return float(s)
    except ValueError:
        return s


def _hdu_of(text: str) -> int | str:
    s = text.strip()
    return int(s) if re.fullmatch(r"[+-]?\d+", s) else s


def _mem_limit_of(text: str | None) -> int | str | None:
    if text is None:
        return None
    s = text.strip()
    return int(s) if s.isdigit() else s


def _rejector(args: argparse.Namespace) -> Any:
    import imcombiners as imc

    given = [k for k in _REJECT_FLAGS if getattr(args, k) is not None]
    for k in given:
        if args.reject not in _REJECT_FLAGS[k]:
            flag = "--" + k.replace("_", "-")
            needs = ", ".join(_REJECT_FLAGS[k])
            raise CliError(f"{flag} applies to --reject {needs}, not --reject {args.reject}")
    if args.sigma is not None and not 1 <= len(args.sigma) <= 2:
        raise CliError("--sigma takes one value or two (LOW HIGH)")
    sigma: Any = 3.0
    if args.sigma is not None:
        sigma = args.sigma[0] if len(args.sigma) == 1 else tuple(args.sigma)
    iterative = {
        "sigma": sigma,
        "maxiters": 5 if args.maxiters is None else args.maxiters,
        "cenfunc": args.cenfunc or "median",
        "nkeep": 1 if args.nkeep is None else args.nkeep,
    }
    if args.reject == "sigclip":
        return imc.SigClip(**iterative)
    if args.reject == "ccdclip":
        return imc.CcdClip(
            **iterative,
            gain=1.0 if args.gain is None else args.gain,
            rdnoise=0.0 if args.rdnoise is None else args.rdnoise,
            snoise=0.0 if args.snoise is None else args.snoise,
        )
    if args.reject == "minmax":
        return imc.MinMaxClip(
            n_min=1 if args.nlow is None else args.nlow,
            n_max=1 if args.nhigh is None else args.nhigh,
        )
    if args.reject == "pclip":
        return imc.PClip(
            frac=-0.5 if args.pclip is None else args.pclip,
            sigma=sigma,
            nkeep=iterative["nkeep"],
        )
    return None


def _reject_style_mixing(args: Sequence[str]) -> None:
    for a in args:
        if _is_key_value(a):
            raise CliError(
                f"{a!r} is an IRAF-style parameter; it cannot be mixed with the conventional "
                f"flags. {_STYLES}",
                USAGE,
            )


_STYLES = (
    "Use one style: 'imcombine INPUT... -o OUTPUT --combine median --reject sigclip' "
    "(flags) or 'imcombine INPUT OUTPUT combine=median reject=sigclip' (IRAF parameters)."
)


def _names_output(argv: Sequence[str]) -> bool:
    return any(
        a in ("-o", "--output", "-h", "--help") or a.startswith(("--output=", "-o")) for a in argv
    )


def _run_flags(argv: Sequence[str]) -> int:
    if argv and not _names_output(argv):
        raise CliError(
            "no output given: name it with -o OUTPUT, or use the IRAF style, "
            "imcombine INPUT OUTPUT name=value ... (e.g. combine=average)",
            USAGE,
        )
    parser = _flag_parser()
    args = parser.parse_intermixed_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    import imcombiners as imc

    paths = expand_inputs(args.inputs)
    _check_inputs(paths)
    products = {
        name: getattr(args, dest)
        for dest, name in _FLAG_PRODUCTS.items()
        if getattr(args, dest) is not None
    }
    labels = {"output": args.output}
    for dest in _FLAG_PRODUCTS:
        if getattr(args, dest) is not None:
            labels["--" + dest.replace("_", "-")] = getattr(args, dest)
    _check_outputs(labels, paths, args.overwrite)

    masks: Any = None
    if args.masks is not None:
        masks = _read_list(args.masks[1:]) if args.masks.startswith("@") else _hdu_of(args.masks)
        if isinstance(masks, list):
            _check_inputs(masks)
    options: dict[str, Any] = {
        "hdu": _hdu_of(args.hdu),
        "method": args.combine,
        "rejectors": _rejector(args),
        "thresholds": None if args.thresholds is None else tuple(args.thresholds),
        "zero": _number_or_name(args.zero),
        "scale": _number_or_name(args.scale),
        "weights": _number_or_name(args.weights),
        "masks": masks,
        "grow": args.grow,
        "products": products,
        "progress": not (args.no_progress or args.quiet),
        "overwrite": args.overwrite,
    }
    mem_limit = _mem_limit_of(args.mem_limit)
    if mem_limit is not None:
        options["mem_limit"] = mem_limit
    with _thread_count(args.threads):
        result = imc.combine_files(paths, args.output, **options)
    if not args.quiet:
        _report_files_result(result, paths)
    return OK


def _report_files_result(result: Any, paths: Sequence[str], max_rows: int = 0) -> None:
    rows = [
        {
            "name": f.path,
            "stat": f.median,
            "zero": f.zero,
            "scale": f.scale,
            "weight": f.weight,
            "rejected": f.rejected_fraction,
        }
        for f in result.frames
    ]
    _print_table(rows, "median", max_rows)
    bands = getattr(result, "bands", None)
    extra = "" if not bands else f", {bands} band{'s' if bands != 1 else ''}"
    _print_timing(len(paths), result.data.shape, result.seconds, _input_bytes(paths), extra)
    written = ", ".join(str(p) for p in result.paths.values())
    if written:
        print(f"wrote {written}")


# --------------------------------------------------------------------------------------------
# IRAF style


def _unquote(text: str) -> str:
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def iraf_value(name: str, text: str) -> Any:
    """An IMCOMBINE parameter value from IRAF's syntax.

    Parameters
    ----------
    name : str
        The parameter (decides the type).
    text : str
        The value as typed: ``yes``/``no`` for booleans, ``INDEF`` for no value (None), a
        number, or a string (optionally quoted).

    Returns
    -------
    bool, int, float, str or None

    Raises
    ------
    CliError
        When the text is not a value of the parameter's type.

    Examples
    --------
    >>> iraf_value("mclip", "no"), iraf_value("lsigma", "INDEF"), iraf_value("nkeep", "2")
    (False, None, 2)
    """
    kind = _IRAF_KINDS[name]
    s = _unquote(text)
    if kind == "str":
        return s
    if kind == "hdu":
        return _hdu_of(s) if s else 0
    if kind == "bool":
        low = s.lower()
        if low in ("yes", "y", "true"):
            return True
        if low in ("no", "n", "false"):
            return False
        raise CliError(f"{name}={text}: expected yes or no")
    if kind == "indef" and s.upper() == "INDEF":
        return None
    try:
        if kind == "int":
            return int(s)
        return float(s)
    except ValueError:
        what = {"int": "an integer", "real": "a number", "indef": "a number or INDEF"}[kind]
        raise CliError(f"{name}={text}: expected {what}") from None


def _fits_name(name: str) -> str:
    """IRAF's output naming: ``.fits`` is appended to a name without a FITS suffix."""
    return name if name.lower().endswith(_FITS_SUFFIXES) else name + ".fits"


def _iraf_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} INPUT OUTPUT [name=value ...] [--overwrite] [--threads N] [-q]",
        add_help=False,
        allow_abbrev=False,
    )
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def _parse_iraf(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str], dict[str, str]]:
    """(shared options, positional arguments, name -> raw value) of an IRAF-style command."""
    opts, rest = _iraf_parser().parse_known_args(argv)
    if opts.help:
        _flag_parser().print_help()
        raise SystemExit(OK)
    positional: list[str] = []
    raw: dict[str, str] = {}
    for a in rest:
        if _is_key_value(a):
            key, _, value = a.partition("=")
            key = key.lower()
            if key in raw:
                raise CliError(f"parameter {key} is given twice", USAGE)
            raw[key] = value
        elif a.startswith("-") and len(a) > 1:
            flag = a.split("=")[0]
            raise CliError(
                f"{flag} cannot be mixed with IRAF-style name=value parameters (only "
                f"--overwrite, --threads, --no-progress and -q work in both styles). {_STYLES}",
                USAGE,
            )
        else:
            positional.append(a)
    valid = ["input", "output", *_IRAF_KINDS, *_IRAF_PRODUCTS]
    unknown = [k for k in raw if k not in valid]
    if unknown:
        if unknown == ["overwrite"] or unknown == ["clobber"]:
            raise CliError(f"{unknown[0]}= is not an IMCOMBINE parameter: give --overwrite", USAGE)
        bad = [k for k in unknown if k in _IRAF_UNSUPPORTED]
        if bad:
            raise CliError(
                f"IMCOMBINE parameter{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
                "not supported by imcombiners",
                USAGE,
            )
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, valid, n=1)
            hints.append(f"{k} (did you mean {close[0]}?)" if close else k)
        raise CliError(
            f"unknown IMCOMBINE parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(hints)}; valid parameters: {', '.join(valid)}",
            USAGE,
        )
    return opts, positional, raw


def _run_iraf(argv: Sequence[str]) -> int:
    opts, positional, raw = _parse_iraf(argv)
    if opts.threads is not None and opts.threads < 1:
        raise CliError("--threads must be >= 1", USAGE)
    inputs = [_unquote(raw.pop("input"))] if "input" in raw else []
    output = _unquote(raw.pop("output")) if "output" in raw else None
    if output is None:
        if not positional:
            raise CliError("no output image given (imcombine INPUT OUTPUT name=value ...)", USAGE)
        output = positional.pop()
    inputs += positional
    if not inputs:
        raise CliError("no input images given (imcombine INPUT OUTPUT name=value ...)", USAGE)
    output = _fits_name(output)
    params = {k: iraf_value(k, v) for k, v in raw.items() if k in _IRAF_KINDS}
    files = {
        _IRAF_PRODUCTS[k]: _fits_name(_unquote(v))
        for k, v in raw.items()
        if k in _IRAF_PRODUCTS and _unquote(v)
    }

    paths = expand_inputs(inputs, split_commas=True)
    _check_inputs(paths)
    labels = {"output": output}
    labels.update({f"{k}=": files[p] for k, p in _IRAF_PRODUCTS.items() if p in files})
    _check_outputs(labels, paths, opts.overwrite)

    import astropy.io.fits  # noqa: F401  (imported here, so that the timing is the work's)

    import imcombiners as imc

    start = time.perf_counter()
    with _thread_count(opts.threads):
        try:
            result = imc.iraf.imcombine(paths, products=tuple(files), **params)
        except OSError as exc:
            if exc.filename:
                raise
            _name_unreadable(paths, exc)
    images = {"output": (output, result.output)}
    for product, path in files.items():
        images[product] = (path, getattr(result, product))
    _write_all(images, result.header, opts.overwrite)
    seconds = time.perf_counter() - start
    if not opts.quiet:
        _report_iraf_result(result, paths, seconds, [p for p, _ in images.values()])
    return OK


def _name_unreadable(paths: Sequence[str], exc: OSError) -> None:
    """Raise a CliError naming the first input astropy cannot open, else ``exc`` again."""
    from astropy.io import fits

    for path in paths:
        try:
            with fits.open(path, lazy_load_hdus=True) as hdul:
                hdul.readall()
        except OSError as bad:
            raise CliError(f"{path} cannot be read as FITS: {_describe(bad)}") from None
    raise exc


def fits_header(cards: Mapping[str, Any]) -> Any:
    """An ``astropy.io.fits.Header`` for a new image from a mapping of keywords.

    The structural keywords (SIMPLE, BITPIX, NAXISn, BZERO, ...) are left out: the image
    written decides them. COMMENT and HISTORY entries may hold several lines; values FITS
    cannot hold are skipped.

    Parameters
    ----------
    cards : mapping of str to value
        Keywords and values, e.g. ``ImcombineResult.header``.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    structural = re.compile(
        r"^(SIMPLE|EXTEND|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|BZERO|BSCALE|BLANK|"
        r"CHECKSUM|DATASUM|Z[A-Z0-9_]*|TFIELDS|TTYPE\d+|TFORM\d+)$"
    )
    header = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in cards.items():
            k = str(key).upper()
            if structural.match(k):
                continue
            if k in ("COMMENT", "HISTORY", ""):
                lines = [value] if isinstance(value, str) else list(value)
                for line in lines:
                    header.append((k, str(line)), end=True)
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                header[k] = value
    return header


def _write_all(
    images: Mapping[str, tuple[str, np.ndarray]], cards: Mapping[str, Any], overwrite: bool
) -> None:
    """Write every image, or none: on any failure the files already written are removed."""
    from .io import write_fits

    header = fits_header(cards)
    written: list[str] = []
    try:
        for path, data in images.values():
            write_fits(path, data, header, overwrite=overwrite)
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise


def _report_iraf_result(
    result: Any, paths: Sequence[str], seconds: float, written: Sequence[str]
) -> None:
    table = result.table
    stat_name = next((k for k in ("median", "mode", "mean") if table and k in table[0]), "median")
    rejmask = result.rejmask
    rows = []
    for i, row in enumerate(table):
        rejected = None
        if rejmask is not None:
            rejected = float(np.count_nonzero(rejmask[i])) / max(1, rejmask[i].size)
        rows.append(
            {
                "name": paths[i] if i < len(paths) else row["image"],
                "stat": row.get(stat_name),
                "zero": row.get("zero"),
                "scale": row.get("scale"),
                "weight": row.get("weight"),
                "rejected": rejected,
            }
        )
    _print_table(rows, stat_name)
    _print_timing(len(paths), result.output.shape, seconds, _input_bytes(paths), "")
    print(f"wrote {', '.join(written)}")


# --------------------------------------------------------------------------------------------
# Demo


def _demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} demo",
        description=(
            "Write a sample set of uint16 bias frames (read noise 5 ADU, cosmic rays) as FITS "
            "files, combine them with a sigma-clipped median through imcombiners.combine_files, "
            "and check the master bias: its noise against the expected value, the cosmic rays "
            "left, and equality with the in-memory combine."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("--frames", type=int, default=20, help="number of frames (20)")
    parser.add_argument("--size", type=int, default=1024, help="frame side in pixels (1024)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="write the files into DIR and keep them (files of an earlier demo are replaced); "
        "default: a temporary folder, removed at the end",
    )
    parser.add_argument(
        "--mem-limit",
        metavar="SIZE",
        default="64MB",
        help="memory limit of the combine (64MB: the default set is read in several bands)",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="worker threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _write_bias_frames(stack: np.ndarray, folder: Path) -> list[str]:
    """Each frame as a uint16 FITS file (BITPIX=16, BZERO=32768) with a small header."""
    from datetime import datetime, timedelta

    from astropy.io import fits

    start = datetime(2025, 3, 11, 18, 0, 0)
    paths = []
    for i, frame in enumerate(stack):
        hdu = fits.PrimaryHDU(frame)  # astropy stores uint16 as BITPIX=16 with BZERO=32768
        hdu.header["EXPTIME"] = (0.0, "exposure time [s]")
        hdu.header["IMAGETYP"] = ("BIAS", "type of frame")
        hdu.header["DATE-OBS"] = (
            (start + timedelta(seconds=15 * i)).isoformat(timespec="seconds"),
            "start of the exposure (UTC)",
        )
        path = folder / f"bias_{i + 1:03d}.fits"
        hdu.writeto(path, overwrite=True)
        paths.append(str(path))
    return paths


def _run_demo(argv: Sequence[str]) -> int:
    parser = _demo_parser()
    args = parser.parse_args(argv)
    if args.frames < 3 or args.size < 16:
        parser.error("--frames must be >= 3 and --size >= 16")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    from .demo import synthesise_bias_stack

    n, size, read_noise = args.frames, args.size, 5.0
    stack, pattern, hits = synthesise_bias_stack(n, (size, size), read_noise=read_noise)
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="imcombine-demo-"))
    try:
        with _thread_count(args.threads):
            return _demo_in(folder, stack, pattern, hits, read_noise, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"removed {folder}")


def _demo_in(
    folder: Path,
    stack: np.ndarray,
    pattern: np.ndarray,
    hits: int,
    read_noise: float,
    args: argparse.Namespace,
) -> int:
    from astropy.io import fits

    import imcombiners as imc

    n, ny, nx = stack.shape
    print(f"imcombiners {imc.__version__} demo, {imc.get_num_threads()} threads")
    paths = _write_bias_frames(stack, folder)
    print(
        f"wrote {n} uint16 bias frames of {ny} x {nx} (level 1000 ADU, read noise "
        f"{read_noise:g} ADU, {hits} samples hit by cosmic rays) to {folder}"
    )
    output = folder / "master_bias.fits"
    print(
        f"combining as: {PROG} bias_*.fits -o master_bias.fits --reject sigclip --sigma 3 "
        f"--mem-limit {args.mem_limit}"
    )
    rule = imc.SigClip(sigma=3.0)
    result = imc.combine_files(
        paths,
        output,
        method="median",
        rejectors=rule,
        mem_limit=_mem_limit_of(args.mem_limit),
        progress=not args.no_progress,
        overwrite=True,
    )
    print()
    _report_files_result(result, paths, max_rows=20)

    master = np.asarray(fits.getdata(output))
    expected = read_noise / np.sqrt(n) * np.sqrt(np.pi / 2)
    resid = master.astype(np.float64) - pattern
    resid -= np.median(resid)
    noise = 1.4826 * float(np.median(np.abs(resid)))
    survivors = int(np.count_nonzero(np.abs(resid) > 5 * expected))
    mean_resid = imc.kernels.mean(stack).astype(np.float64) - pattern
    mean_resid -= np.median(mean_resid)
    mean_left = int(np.count_nonzero(np.abs(mean_resid) > 5 * read_noise / np.sqrt(n)))
    in_memory = imc.Combiner(stack).combine("median", rejectors=rule)
    same = bool(
        master.dtype.newbyteorder("=") == in_memory.dtype
        and np.array_equal(master, in_memory)
        and np.array_equal(result.data, in_memory)
    )
    print()
    print(
        f"noise of the master bias: {noise:.3f} ADU; expected for a median of {n} frames: "
        f"{read_noise:g}/sqrt({n})*sqrt(pi/2) = {expected:.3f} ADU"
    )
    print(
        f"cosmic rays: {survivors} pixels of the master lie > 5 sigma from the noiseless "
        f"pattern (a plain mean leaves {mean_left})"
    )
    print(f"identical to the in-memory combine: {same}")
    if args.keep:
        print(f"kept the frames and {output.name} in {folder}")
    return OK if same else FAILED


if __name__ == "__main__":
    sys.exit(main())
