//! Errors of the pure-Rust core. The Python bindings map them once, in `python/errors.rs`.

use std::fmt;

/// Everything the core can refuse. Messages start lowercase and end without a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// An array argument has a shape that does not fit the stack.
    Shape {
        /// The argument's name as the user knows it (`mask`, `weights`, ...).
        name: &'static str,
        expected: String,
        actual: String,
    },
    /// A scalar or array argument has a value outside its domain.
    Value { name: &'static str, message: String },
    /// The thread pool could not be built.
    ThreadPool(String),
    /// A bug: a panic inside the core, caught before it reached the caller.
    Internal(String),
    /// The call was cancelled (an interrupt arrived while it ran).
    Cancelled,
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Shape {
                name,
                expected,
                actual,
            } => write!(f, "{name} has shape {actual}, expected {expected}"),
            CoreError::Value { name, message } => write!(f, "{name}: {message}"),
            CoreError::ThreadPool(msg) => write!(f, "could not start the thread pool: {msg}"),
            CoreError::Internal(msg) => write!(
                f,
                "internal error in the imcombiners core ({msg}); please report it with the call \
                 that caused it"
            ),
            CoreError::Cancelled => write!(f, "the call was cancelled by an interrupt"),
        }
    }
}

impl std::error::Error for CoreError {}

/// Formats a shape the way `NumPy` prints it: `(3,)`, `(5, 10, 12)`.
#[must_use]
pub fn shape_str(shape: &[usize]) -> String {
    if let [one] = shape {
        return format!("({one},)");
    }
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_argument_and_both_shapes() {
        let err = CoreError::Shape {
            name: "mask",
            expected: shape_str(&[5, 10, 12]),
            actual: shape_str(&[5, 10, 10]),
        };
        assert_eq!(
            err.to_string(),
            "mask has shape (5, 10, 10), expected (5, 10, 12)"
        );
        assert_eq!(shape_str(&[3]), "(3,)");
    }
}
