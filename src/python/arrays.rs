//! Accepted `NumPy` arrays and their conversion to core views.
//!
//! Python hands over arrays in native byte order: a big-endian array is reinterpreted (a view,
//! no copy) and `swapped = true` tells the core to swap bytes while it reads each tile.

use numpy::{Element, IntoPyArray, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::stack::StackView;

/// The stack dtypes the core accepts; `python/imcombiners/_validation.py` turns anything else into a `TypeError`.
#[derive(FromPyObject)]
pub enum StackArg<'py> {
    U8(PyReadonlyArrayDyn<'py, u8>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    I16(PyReadonlyArrayDyn<'py, i16>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// A core view of a borrowed array (strides followed in place, nothing copied).
pub fn view_of<'a, T: Element + Copy>(
    array: &'a PyReadonlyArrayDyn<'_, T>,
    swapped: bool,
) -> PyResult<StackView<'a, T>> {
    // rust-numpy divides byte strides by the item size: a stride that is not a multiple of it
    // (a field of a packed record array) or a misaligned pointer would be read as other bytes.
    // Python copies such arrays first (`_validation.aligned`); refuse any that still arrive.
    let size = std::mem::size_of::<T>() as isize;
    let byte_strides = array.strides();
    let misaligned = !(array.data() as usize).is_multiple_of(std::mem::align_of::<T>());
    let shape = array.shape();
    // An axis of length 1 is never stepped along: its stride does not matter.
    let odd_stride = byte_strides
        .iter()
        .zip(shape)
        .any(|(s, &n)| n > 1 && s % size != 0);
    if misaligned || odd_stride {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "array with byte strides {byte_strides:?} is not aligned to its {size}-byte items; \
             pass np.ascontiguousarray(array)"
        )));
    }
    let v = array.as_array();
    let strides = v.strides();
    // SAFETY: shape and element strides come from the live, read-borrowed NumPy array, so every
    // in-range index addresses one of its elements for as long as `array` is borrowed.
    Ok(unsafe { StackView::from_raw_parts(v.as_ptr(), v.shape(), strides, swapped) }?)
}

/// A vector handed to `NumPy` without a copy, reshaped to `shape`.
pub fn to_numpy<'py, O: Element>(
    py: Python<'py>,
    values: Vec<O>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(values.into_pyarray(py).reshape(shape)?.into_any())
}

/// The spatial shape `(*spatial)` of a stack array.
pub fn spatial_shape<T: Element>(array: &PyReadonlyArrayDyn<'_, T>) -> Vec<usize> {
    array.shape().get(1..).unwrap_or_default().to_vec()
}

/// Runs `$body` with `$view` bound to the typed core view of `$stack`.
macro_rules! with_view {
    ($stack:expr, $swapped:expr, |$view:ident| $body:expr) => {
        match $stack {
            StackArg::U8(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
            StackArg::U16(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
            StackArg::I16(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
            StackArg::I32(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
            StackArg::F32(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
            StackArg::F64(a) => {
                let $view = view_of(&a, $swapped)?;
                $body
            }
        }
    };
}
pub(crate) use with_view;

impl StackArg<'_> {
    /// The spatial shape of the stack.
    pub fn spatial(&self) -> Vec<usize> {
        match self {
            StackArg::U8(a) => spatial_shape(a),
            StackArg::U16(a) => spatial_shape(a),
            StackArg::I16(a) => spatial_shape(a),
            StackArg::I32(a) => spatial_shape(a),
            StackArg::F32(a) => spatial_shape(a),
            StackArg::F64(a) => spatial_shape(a),
        }
    }
}
