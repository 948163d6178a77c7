"""Place frames of different shapes and integer offsets into one padded stack."""

from __future__ import annotations

import math
import numbers
from typing import Any, overload

import numpy as np

from ._validation import WORK_DTYPES, check_dtype

#: The largest output stack (elements, N included) built before refusing.
MAX_ELEMENTS = 2**40


def _listed(value: Any, *, name: str) -> list[Any]:
    """The items of a sequence argument (a stack array gives its frames)."""
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a sequence of arrays, got {type(value).__name__}")
    try:
        return list(value)
    except TypeError:  # not iterable, or a 0-d array
        raise TypeError(
            f"{name} must be a sequence of arrays, got {type(value).__name__}"
        ) from None


def _as_images(images: Any) -> list[np.ndarray]:
    """The frames as a list of arrays of equal ndim >= 1 and accepted dtypes (never copied)."""
    if isinstance(images, np.ndarray) and images.ndim == 1:
        raise ValueError(
            f"images given as one array must be a stack (N, *spatial) with at least 2 "
            f"dimensions, got shape {images.shape}"
        )
    frames = []
    for i, image in enumerate(_listed(images, name="images")):
        if isinstance(image, np.ma.MaskedArray):
            raise TypeError(
                f"images[{i}] is a numpy.ma.MaskedArray; its mask would be lost: pass the "
                f"data and the mask separately (image.data, masks=[np.ma.getmaskarray(image), "
                f"...])"
            )
        a = np.asarray(image)
        check_dtype(a.dtype, name=f"images[{i}]")
        if a.ndim < 1:
            raise ValueError(f"images[{i}] must have at least 1 dimension, got shape {a.shape}")
        if frames and a.ndim != frames[0].ndim:
            raise ValueError(
                f"images must all have the same number of dimensions: images[0] has shape "
                f"{frames[0].shape} ({frames[0].ndim}-D), images[{i}] has shape {a.shape} "
                f"({a.ndim}-D)"
            )
        frames.append(a)
    if not frames:
        raise ValueError("images is empty: at least one image is needed")
    return frames


def _axis_order(ndim: int) -> str:
    """How an offsets row is ordered, for messages: ``(axis 0, axis 1)`` and the like."""
    if ndim <= 3:
        return "(" + ", ".join(f"axis {k}" for k in range(ndim)) + ")"
    return f"(axis 0, ..., axis {ndim - 1})"


def _offset_value(value: Any, index: tuple[int, ...]) -> int:
    """One offset as a Python int: a non-bool integer, or a finite integral float."""
    where = f"offsets[{', '.join(str(k) for k in index)}]"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"offsets must be integers, got a boolean ({value}) at {where}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"offsets must be finite, got {value} at {where}")
        if not value.is_integer():
            raise ValueError(
                f"offsets must be whole numbers (placement is by whole samples), got {value} "
                f"at {where}"
            )
        return int(value)
    raise TypeError(f"offsets must be integers, got {type(value).__name__} at {where}")


def _as_offsets(offsets: Any, n: int, ndim: int) -> list[list[int]]:
    """Offsets of shape (n, ndim) as Python ints (no overflow), normalised to a zero minimum."""
    # Object dtype keeps each element's own type (a bool among ints stays a bool) and Python
    # ints stay exact; ragged rows give a shape that fails the check below.
    arr = np.asarray(offsets, dtype=object)
    if arr.shape != (n, ndim):
        raise ValueError(
            f"offsets must have shape ({n}, {ndim}), one {_axis_order(ndim)} row per image, "
            f"got shape {arr.shape}"
        )
    rows = [[_offset_value(v, (i, k)) for k, v in enumerate(row)] for i, row in enumerate(arr)]
    lowest = [min(row[k] for row in rows) for k in range(ndim)]
    return [[row[k] - lowest[k] for k in range(ndim)] for row in rows]


def _as_fill(fill: Any, dtype: np.dtype) -> float:
    """A real number (NaN and +-inf allowed) that the output dtype can hold."""
    if isinstance(fill, bool | np.bool_) or not isinstance(fill, numbers.Real):
        raise TypeError(f"fill must be a real number, got {type(fill).__name__}")
    try:
        value = float(fill)
    except OverflowError:
        raise ValueError(f"fill {fill} is too large for {dtype}") from None
    with np.errstate(over="ignore"):
        overflows = math.isfinite(value) and not np.isfinite(dtype.type(value))
    if overflows:
        raise ValueError(f"fill {value} is too large for the output dtype {dtype}")
    return value


def _as_masks(masks: Any, frames: list[np.ndarray]) -> list[np.ndarray]:
    """One boolean mask per image, each of its image's shape (integer masks: nonzero = bad)."""
    out = [np.asarray(m) for m in _listed(masks, name="masks")]
    if len(out) != len(frames):
        raise ValueError(
            f"masks must hold one mask per image: got {len(out)} masks for {len(frames)} images"
        )
    for i, (m, image) in enumerate(zip(out, frames, strict=True)):
        if m.shape != image.shape:
            raise ValueError(
                f"masks[{i}] must have the shape of images[{i}], {image.shape}, got shape {m.shape}"
            )
        if m.dtype != np.bool_:
            if m.dtype.kind not in "iu":
                raise TypeError(f"masks[{i}] must be a boolean array, got dtype {m.dtype}")
            out[i] = m != 0
    return out


@overload
def place_into_padded(
    images: Any, offsets: Any, fill: float = ..., *, masks: None = ...
) -> np.ndarray: ...
@overload
def place_into_padded(
    images: Any, offsets: Any, fill: float = ..., *, masks: Any
) -> tuple[np.ndarray, np.ndarray]: ...
def place_into_padded(
    images: Any, offsets: Any, fill: float = np.nan, *, masks: Any = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Place images of different shapes at integer offsets into one padded stack.

    Image ``i`` is copied to ``stack[i]`` with its element ``[0, ..., 0]`` at ``offsets[i]``;
    the rest of ``stack[i]`` is ``fill``. The offsets are first shifted so that the smallest
    offset along each axis is zero, and the output is just large enough to cover every image.
    With the default NaN fill, a combine of the stack uses only the samples each image
    covers, since every combine method treats NaN as missing.

    Parameters
    ----------
    images : sequence of N array_like
        The images: uint8, uint16, int16, int32, float32 or float64, all with the same number
        of dimensions (at least 1) but any shapes. A stack array ``(N, *spatial)`` is a
        sequence of its N frames. Never modified.
    offsets : array_like of int and shape (N, ndim)
        Where each image's first element lands, in NumPy axis order (``(dy, dx)`` for 2-D
        images). Negative offsets are fine. Floats are accepted only if they are whole numbers.
    fill : float, default NaN
        The value of output samples that no image covers (NaN, +-inf or any number the output
        dtype can hold).
    masks : sequence of N array_like of bool, optional
        True where a sample of the image is bad; ``masks[i]`` has the shape of ``images[i]``.
        They are placed like the images.

    Returns
    -------
    stack : ndarray of shape (N, *outer_shape)
        ``outer_shape[k]`` is ``max_i(offset[i, k] + shape_i[k])`` after the shift. The dtype
        is the floating workspace: float32 for uint8, uint16, int16 and float32 images, float64
        for int32 and float64 images; float64 if any image needs it.
    mask_stack : ndarray of bool and shape (N, *outer_shape)
        Only when ``masks`` is given: True where a sample is masked or not covered by its
        image.

    Raises
    ------
    TypeError
        If an image has an unsupported dtype (the message names the explicit cast), if the
        offsets are not integers (booleans included), if ``fill`` is not a real number, or if
        a mask is not boolean.
    ValueError
        If ``images`` is empty or the images differ in number of dimensions, if the offsets
        do not have shape (N, ndim), are not finite or have a fractional part, if the output
        would exceed 2**40 elements, if ``fill`` overflows the output dtype, or if the masks
        are not one per image, each of its image's shape.

    Examples
    --------
    >>> a = np.array([1, 2], dtype=np.uint8)
    >>> b = np.array([3, 4, 5], dtype=np.uint8)
    >>> stack = imc.place_into_padded([a, b], [[0], [2]])
    >>> stack
    array([[ 1.,  2., nan, nan, nan],
           [nan, nan,  3.,  4.,  5.]], dtype=float32)
    >>> imc.Combiner(stack).combine("mean")
    array([1., 2., 3., 4., 5.], dtype=float32)

    Offsets are shifted so that the smallest is zero; masks are placed the same way:

    >>> img = np.ones((1, 2))
    >>> stack, mask = imc.place_into_padded(
    ...     [img, 2 * img], [(-1, 0), (0, 1)], fill=0, masks=[[[True, False]], [[False, False]]]
    ... )
    >>> stack
    array([[[1., 1., 0.],
            [0., 0., 0.]],
    <BLANKLINE>
           [[0., 0., 0.],
            [0., 2., 2.]]])
    >>> mask
    array([[[ True, False,  True],
            [ True,  True,  True]],
    <BLANKLINE>
           [[ True,  True,  True],
            [ True, False, False]]])
    """
    frames = _as_images(images)
    n, ndim = len(frames), frames[0].ndim
    starts = _as_offsets(offsets, n, ndim)
    natives = [f.dtype.newbyteorder("=") if not f.dtype.isnative else f.dtype for f in frames]
    work = [WORK_DTYPES[d] for d in natives]
    dtype = np.dtype(np.float64) if np.dtype(np.float64) in work else np.dtype(np.float32)
    value = _as_fill(fill, dtype)
    placed_masks = None if masks is None else _as_masks(masks, frames)

    outer = tuple(
        max(start[k] + f.shape[k] for start, f in zip(starts, frames, strict=True))
        for k in range(ndim)
    )
    total = n * math.prod(outer)  # Python ints: no overflow
    if total > MAX_ELEMENTS:
        raise ValueError(
            f"offsets spread the images over an output of shape {(n, *outer)}, {total} "
            f"elements, more than the limit of 2**40 = {MAX_ELEMENTS}; check the offsets "
            f"(rows in {_axis_order(ndim)} order, in samples)"
        )

    stack = np.full((n, *outer), value, dtype=dtype)
    mask_stack = None if placed_masks is None else np.ones((n, *outer), dtype=bool)
    for i, (start, f) in enumerate(zip(starts, frames, strict=True)):
        where = (i, *(slice(s, s + size) for s, size in zip(start, f.shape, strict=True)))
        stack[where] = f  # converts integers (and foreign byte order) to the float dtype
        if mask_stack is not None and placed_masks is not None:
            mask_stack[where] = placed_masks[i]
    if mask_stack is None:
        return stack
    return stack, mask_stack
