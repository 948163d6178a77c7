"""The IRAF style: ``imcombine INPUT OUTPUT name=value ...`` run by `imcombiners.iraf.imcombine`.

Any argument of the form ``name=value`` selects this style. INPUT is an ``@list``, a
comma-separated list or a glob pattern; OUTPUT and the product files (``sigmas=``,
``rejmasks=`` ...) get ``.fits`` appended when they have no FITS suffix, as IRAF does. Only
``--overwrite``, ``--threads``, ``--mem-limit``, ``--no-progress`` and ``-q`` may be mixed in
(``--mem-limit`` bounds the memory of the banded read, as for the flag style).
"""

from __future__ import annotations

import argparse
import difflib
import time
from collections.abc import Sequence

from ._errors import OK, PROG, STYLES, USAGE, CliError, describe
from ._files import check_inputs, check_outputs, expand_inputs, write_all
from ._flags import flag_parser
from ._iraf_params import (
    _IRAF_KINDS,
    _IRAF_UNSUPPORTED,
    IRAF_PRODUCTS,
    _fits_name,
    _unquote,
    iraf_value,
    is_key_value,
)
from ._options import mem_limit_of, thread_count, threads_of
from ._report import report_iraf_result


def _iraf_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=(
            f"{PROG} INPUT OUTPUT [name=value ...] [--overwrite] [--threads N] "
            "[--mem-limit SIZE] [--no-progress] [-q]"
        ),
        add_help=False,
        allow_abbrev=False,
    )
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--mem-limit")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def _parse_iraf(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str], dict[str, str]]:
    """(shared options, positional arguments, name -> raw value) of an IRAF-style command."""
    opts, rest = _iraf_parser().parse_known_args(argv)
    if opts.help:
        flag_parser().print_help()
        raise SystemExit(OK)
    positional: list[str] = []
    raw: dict[str, str] = {}
    for a in rest:
        if is_key_value(a):
            key, _, value = a.partition("=")
            key = key.lower()
            if key in raw:
                raise CliError(f"parameter {key} is given twice", USAGE)
            raw[key] = value
        elif a.startswith("-") and len(a) > 1:
            flag = a.split("=")[0]
            raise CliError(
                f"{flag} cannot be mixed with IRAF-style name=value parameters (only "
                "--overwrite, --threads, --mem-limit, --no-progress and -q work in both "
                f"styles). {STYLES}",
                USAGE,
            )
        else:
            positional.append(a)
    valid = ["input", "output", *_IRAF_KINDS, *IRAF_PRODUCTS]
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


def run_iraf(argv: Sequence[str]) -> int:
    opts, positional, raw = _parse_iraf(argv)
    threads_of(opts.threads)
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
        IRAF_PRODUCTS[k]: _fits_name(_unquote(v))
        for k, v in raw.items()
        if k in IRAF_PRODUCTS and _unquote(v)
    }

    paths = expand_inputs(inputs, split_commas=True)
    check_inputs(paths)
    labels = {"output": output}
    labels.update({f"{k}=": files[p] for k, p in IRAF_PRODUCTS.items() if p in files})
    check_outputs(labels, paths, opts.overwrite)

    import astropy.io.fits  # noqa: F401  (imported here, so that the timing is the work's)

    import imcombiners as imc

    start = time.perf_counter()
    with thread_count(opts.threads):
        try:
            result = imc.iraf.imcombine(
                paths,
                products=tuple(files),
                mem_limit=mem_limit_of(opts.mem_limit),
                progress=not (opts.no_progress or opts.quiet),
                **params,
            )
        except OSError as exc:
            if exc.filename:
                raise
            _name_unreadable(paths, exc)
    images = {"output": (output, result.output)}
    for product, path in files.items():
        images[product] = (path, getattr(result, product))
    write_all(images, result.header, opts.overwrite)
    seconds = time.perf_counter() - start
    if not opts.quiet:
        report_iraf_result(result, paths, seconds, [p for p, _ in images.values()])
    return OK


def _name_unreadable(paths: Sequence[str], exc: OSError) -> None:
    """Raise a CliError naming the first input astropy cannot open, else ``exc`` again."""
    from astropy.io import fits

    for path in paths:
        try:
            with fits.open(path, lazy_load_hdus=True) as hdul:
                hdul.readall()
        except OSError as bad:
            raise CliError(f"{path} cannot be read as FITS: {describe(bad)}") from None
    raise exc
