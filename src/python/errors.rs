//! The one mapping from core errors to Python exceptions.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::PyErr;

use crate::error::CoreError;

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err {
            CoreError::Shape { .. } | CoreError::Value { .. } => {
                PyValueError::new_err(err.to_string())
            }
            CoreError::ThreadPool(_) | CoreError::Internal(_) => {
                PyRuntimeError::new_err(err.to_string())
            }
            CoreError::Cancelled => PyKeyboardInterrupt::new_err(err.to_string()),
        }
    }
}
