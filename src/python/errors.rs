//! The one mapping from core errors to Python exceptions.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;

use crate::error::CoreError;

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err {
            CoreError::Shape { .. } | CoreError::Value { .. } => {
                PyValueError::new_err(err.to_string())
            }
            CoreError::ThreadPool(_) => PyRuntimeError::new_err(err.to_string()),
        }
    }
}
