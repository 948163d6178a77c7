//! Running core calls without the GIL, interruptibly.
//!
//! Every binding hands its work to [`detached`]. Small calls run on the pool straight away. Larger
//! ones run on a helper thread while the calling thread wakes every [`POLL`] to let Python handle
//! signals: on Ctrl-C it raises the core's cancellation flag (`crate::cancel`), waits for the
//! tiles in progress to finish (they skip the rest) and raises `KeyboardInterrupt`, leaving the
//! process usable.

use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::cancel;
use crate::error::CoreError;
use crate::pool;

/// How often a waiting caller checks for signals.
const POLL: Duration = Duration::from_millis(20);

/// Calls with fewer samples than this finish in milliseconds and are not polled.
const SMALL: usize = 1 << 20;

/// Runs `f` on a pool of `threads` workers with the GIL released; `samples` (the number of input
/// samples, or any measure of the work) decides whether the call is polled for signals.
///
/// # Errors
/// The pool's errors, a panic in `f` (`RuntimeError`), or the pending signal's exception
/// (`KeyboardInterrupt` for Ctrl-C) when the call was interrupted.
pub fn detached<R: Send>(
    py: Python<'_>,
    threads: usize,
    samples: usize,
    f: impl FnOnce() -> R + Send,
) -> PyResult<R> {
    let epoch = cancel::epoch();
    let result = if samples < SMALL {
        py.detach(|| pool::install(threads, f))?
    } else {
        polled(py, threads, f)?
    };
    if cancel::epoch() != epoch {
        // An interrupt elsewhere in the process may have made this call skip tiles.
        return Err(CoreError::Cancelled.into());
    }
    Ok(result)
}

fn polled<R: Send>(py: Python<'_>, threads: usize, f: impl FnOnce() -> R + Send) -> PyResult<R> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || {
            // The receiver outlives this thread (the scope joins it first).
            let _ = tx.send(pool::install(threads, f));
        });
        let mut rx = rx;
        loop {
            let (back, got) = py.detach(move || {
                let got = rx.recv_timeout(POLL);
                (rx, got)
            });
            rx = back;
            match got {
                Ok(result) => return Ok(result?),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(CoreError::Internal("the worker thread ended early".into()).into())
                }
            }
            if let Err(signal) = py.check_signals() {
                let request = cancel::Request::new();
                let _ = py.detach(move || rx.recv());
                drop(request);
                return Err(signal);
            }
        }
    })
}
