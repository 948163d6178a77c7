"""The package's warning class."""


class ImcombinersWarning(UserWarning):
    """Something was done that the caller may not have expected."""
