"""The package's warning class."""


class ImcombinersWarning(UserWarning):
    """Something was done that the caller may not have expected."""


def warn(message: str) -> None:
    """Issue an `ImcombinersWarning` attributed to the first caller outside this package."""
    import sys
    import warnings
    from pathlib import Path

    package = str(Path(__file__).resolve().parent)
    level, frame = 2, sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame = frame.f_back
        level += 1
    warnings.warn(message, ImcombinersWarning, stacklevel=level)
