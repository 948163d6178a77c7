"""The conventional style: ``imcombine INPUT... -o OUTPUT --reject sigclip ...``.

The flags are parsed by `argparse` (whose ``--help`` describes both styles and the demo) and the
images combined by `imcombiners.combine_files`, which reads the stack in bands within
``--mem-limit``.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from ..registry import RULES
from ._errors import OK, PROG, USAGE, CliError
from ._files import check_inputs, check_outputs, expand_inputs, read_list
from ._iraf_params import IRAF_PRODUCTS, iraf_defaults, iraf_syntax
from ._options import (
    INT64_MAX,
    INT64_MIN,
    MAX_THREADS,
    MAXITERS_MAX,
    _count_or_fraction,
    hdu_of,
    int_in_range,
    mem_limit_of,
    thread_count,
    threads_of,
)
from ._report import report_files_result

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


def _reject_flags() -> dict[str, tuple[str, ...]]:
    """Each rejection flag and the --reject values it applies to (from the rule registry)."""
    flags: dict[str, list[str]] = {}
    offered = [name for name, entry in RULES.items() if entry.offered]
    for name in offered:
        for flag in RULES[name].cli:
            flags.setdefault(flag, []).append(name)
    flags["grow"] = offered  # grow follows any rule
    return {k: tuple(v) for k, v in flags.items()}


# Conventional-style rejection flags and the --reject values they apply to.
_REJECT_FLAGS = _reject_flags()


def _epilog() -> str:
    defaults = " ".join(f"{k}={iraf_syntax(v)}" for k, v in iraf_defaults().items())
    wrap = textwrap.TextWrapper(width=90, initial_indent="    ", subsequent_indent="    ")
    products = " ".join(f"{k}=FILE" for k in IRAF_PRODUCTS)
    return f"""\
conventional style: flags, combined by imcombiners.combine_files, which reads the inputs in
bands so that the work stays within --mem-limit:
  imcombine raw/bias*.fits -o master_bias.fits --reject sigclip --sigma 3
  imcombine @flats.txt -o flat.fits --combine mean --scale median \\
      --reject ccdclip --gain 1.5 --rdnoise 4.2 --sigma-out flat_sigma.fits
  imcombine 'sci/*.fits' -o sum.fits --combine sum --hdu SCI --masks DQ --mem-limit 256MB
  imcombine 'sci/*.fits' -o stack.fits --combine mean --hdu SCI --variance-hdu VAR --mef \\
      --reject sigclip --products nrej,ncombine
  imcombine 'raw/*.fits' -o master.fits --noise-model 1.5,4.2 --mef

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


def flag_parser() -> argparse.ArgumentParser:
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
    out.add_argument(
        "--mef",
        action="store_true",
        help="write OUTPUT as one multi-extension file: SCI, VAR (or ERR) with the propagated "
        "variance, DQ (1 where no sample survived) and the --products",
    )
    out.add_argument(
        "--products",
        metavar="NAMES",
        help="with --mef: extensions to add, comma-separated among "
        "sigma,variance,nrej,ncombine,low,high,rejmask",
    )
    out.add_argument(
        "--error-out",
        action="store_true",
        help="give the propagated uncertainty as a standard deviation (ERR), not a variance",
    )
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
    unc = comb.add_mutually_exclusive_group()
    unc.add_argument(
        "--variance-hdu",
        metavar="NAME",
        help="propagate the per-pixel variance in this extension of each input (e.g. VAR)",
    )
    unc.add_argument(
        "--error-hdu",
        metavar="NAME",
        help="as --variance-hdu, for an extension of standard deviations (e.g. ERR)",
    )
    unc.add_argument(
        "--noise-model",
        metavar="GAIN,RDNOISE[,SNOISE]",
        help="propagate the CCD noise of raw frames: gain in e-/ADU, read noise in e-, "
        "sensitivity noise fraction (0)",
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
        choices=("none", *(name for name, entry in RULES.items() if entry.offered)),
        help="rejection rule (default none)",
    )
    rej.add_argument(
        "--sigma",
        nargs="+",
        type=float,
        metavar="SIGMA",
        help="clipping limits: LOW HIGH, or one value for both (default 3)",
    )
    rej.add_argument(
        "--maxiters", type=int, help=f"most clipping passes, 0 to {MAXITERS_MAX} (default 5)"
    )
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
    # Issue 18: GESD.
    rej.add_argument(
        "--outlier-fraction", type=float, help="gesd: most outliers, fraction of samples (0.3)"
    )
    rej.add_argument("--alpha", type=float, help="gesd: significance level (0.05)")
    rej.add_argument(
        "--low-relaxation", type=float, help="gesd: low deviations divided by this (1.5)"
    )
    rej.add_argument("--grow", type=float, help="also reject neighbours within this radius")

    run = parser.add_argument_group("running")
    run.add_argument("--threads", type=int, metavar="N", help=f"worker threads, 1 to {MAX_THREADS}")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return parser


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


def _rejector(args: argparse.Namespace) -> Any:
    given = [k for k in _REJECT_FLAGS if getattr(args, k) is not None]
    for k in given:
        if args.reject not in _REJECT_FLAGS[k]:
            flag = "--" + k.replace("_", "-")
            needs = ", ".join(_REJECT_FLAGS[k])
            raise CliError(f"{flag} applies to --reject {needs}, not --reject {args.reject}")
    if args.sigma is not None and not 1 <= len(args.sigma) <= 2:
        raise CliError("--sigma takes one value or two (LOW HIGH)")
    if args.reject not in RULES:
        return None
    entry = RULES[args.reject]
    values = {}
    for flag, field in entry.cli.items():
        value = getattr(args, flag)
        if value is None:
            continue  # the rule's default
        if flag == "sigma":
            value = value[0] if len(value) == 1 else tuple(value)
        values[field] = value
    return entry.cls(**values)


def _noise_model(text: str | None) -> tuple[float, ...] | None:
    """``--noise-model GAIN,RDNOISE[,SNOISE]`` as numbers (gain > 0, the others >= 0)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise CliError(
            f"--noise-model takes GAIN,RDNOISE or GAIN,RDNOISE,SNOISE (numbers), got {text!r}",
            USAGE,
        )
    if values[0] <= 0 or min(values[1:]) < 0:
        raise CliError(
            f"--noise-model: the gain must be > 0 and the noises >= 0, got {text!r}", USAGE
        )
    return values


def _uncertainty_options(args: argparse.Namespace) -> dict[str, Any]:
    """The combine_files arguments of --variance-hdu, --error-hdu, --noise-model, --mef,
    --products and --error-out."""
    out: dict[str, Any] = {}
    if args.variance_hdu is not None:
        out["variance"] = hdu_of(args.variance_hdu)
    if args.error_hdu is not None:
        out["error"] = hdu_of(args.error_hdu)
    noise = _noise_model(args.noise_model)
    if noise is not None:
        out["noise_model"] = noise
    if args.error_out:
        if not out:
            raise CliError(
                "--error-out needs an input uncertainty: --variance-hdu, --error-hdu or "
                "--noise-model",
                USAGE,
            )
        out["error_out"] = True
    if args.products is not None and not args.mef:
        raise CliError(
            "--products names extensions of a --mef output; without --mef give each product "
            "its file (--sigma-out PATH ...)",
            USAGE,
        )
    if args.mef:
        given = [f for f in _FLAG_PRODUCTS if getattr(args, f) is not None]
        if given:
            flags = ", ".join("--" + f.replace("_", "-") for f in given)
            raise CliError(
                f"with --mef the products are extensions of OUTPUT: name them with "
                f"--products (e.g. --products nrej,ncombine), not {flags}",
                USAGE,
            )
        out["mef"] = True
    return out


def _mef_products(text: str | None) -> list[str]:
    if text is None:
        return []
    names = [w.strip().lower() for w in text.split(",") if w.strip()]
    known = set(_FLAG_PRODUCTS.values())
    odd = [w for w in names if w not in known]
    if odd or not names:
        raise CliError(
            f"--products: unknown product(s) {', '.join(odd) or repr(text)}; choose from "
            f"{','.join(_FLAG_PRODUCTS.values())}",
            USAGE,
        )
    return names


def _check_ranges(args: argparse.Namespace) -> None:
    """Refuse (usage error) numbers outside what the options allow, before any work."""
    threads_of(args.threads)
    int_in_range(args.maxiters, "--maxiters", 0, MAXITERS_MAX)
    int_in_range(args.nkeep, "--nkeep", INT64_MIN, INT64_MAX)
    nlow = _count_or_fraction(args.nlow, "--nlow") or 0.0
    nhigh = _count_or_fraction(args.nhigh, "--nhigh") or 0.0
    if nlow >= 1 and nhigh >= 1 and nlow + nhigh >= 2.0**63:
        raise CliError(
            f"--nlow + --nhigh must be at most {INT64_MAX} (2**63-1), got {nlow:g} + {nhigh:g}",
            USAGE,
        )


def _names_output(argv: Sequence[str]) -> bool:
    return any(
        a in ("-o", "--output", "-h", "--help") or a.startswith(("--output=", "-o")) for a in argv
    )


def run_flags(argv: Sequence[str]) -> int:
    if argv and not _names_output(argv):
        raise CliError(
            "no output given: name it with -o OUTPUT, or use the IRAF style, "
            "imcombine INPUT OUTPUT name=value ... (e.g. combine=average)",
            USAGE,
        )
    parser = flag_parser()
    args = parser.parse_intermixed_args(argv)
    _check_ranges(args)
    uncertainty = _uncertainty_options(args)
    mef_products = _mef_products(args.products)
    import imcombiners as imc

    paths = expand_inputs(args.inputs)
    check_inputs(paths)
    products = {
        name: getattr(args, dest)
        for dest, name in _FLAG_PRODUCTS.items()
        if getattr(args, dest) is not None
    }
    labels = {"output": args.output}
    for dest in _FLAG_PRODUCTS:
        if getattr(args, dest) is not None:
            labels["--" + dest.replace("_", "-")] = getattr(args, dest)
    check_outputs(labels, paths, args.overwrite)

    masks: Any = None
    if args.masks is not None:
        masks = read_list(args.masks[1:]) if args.masks.startswith("@") else hdu_of(args.masks)
        if isinstance(masks, list):
            check_inputs(masks)
    options: dict[str, Any] = {
        "hdu": hdu_of(args.hdu),
        "method": args.combine,
        "rejectors": _rejector(args),
        "thresholds": None if args.thresholds is None else tuple(args.thresholds),
        "zero": _number_or_name(args.zero),
        "scale": _number_or_name(args.scale),
        "weights": _number_or_name(args.weights),
        "masks": masks,
        "grow": args.grow,
        "products": mef_products if args.mef else products,
        "progress": not (args.no_progress or args.quiet),
        "overwrite": args.overwrite,
        **uncertainty,
    }
    mem_limit = mem_limit_of(args.mem_limit)
    if mem_limit is not None:
        options["mem_limit"] = mem_limit
    with thread_count(args.threads):
        result = imc.combine_files(paths, args.output, **options)
    if not args.quiet:
        report_files_result(result, paths)
    return OK
