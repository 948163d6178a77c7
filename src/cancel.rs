//! Cooperative cancellation of long core calls (Ctrl-C).
//!
//! The bindings run long calls on a helper thread while the calling thread polls Python for
//! signals. When one arrives they hold a [`Request`] until the call has returned; tile loops
//! call [`requested`] before each tile and skip the remaining work, so the call ends within
//! about one tile's time. The flag is process-wide: an interrupt cancels every core call in
//! flight. A call whose run overlapped a request may have skipped tiles, so its binding compares
//! [`epoch`] before and after and reports it as cancelled instead of returning its outputs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

static REQUESTS: AtomicUsize = AtomicUsize::new(0);
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Counts the requests made so far; a call during which it changed may be incomplete.
#[must_use]
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}

/// `true` while some caller asks the running calls to stop.
#[inline]
#[must_use]
pub fn requested() -> bool {
    REQUESTS.load(Ordering::Relaxed) != 0
}

/// Asks running calls to stop for as long as it lives.
#[derive(Debug)]
pub struct Request(());

impl Request {
    /// Raises the flag (until this request is dropped).
    #[must_use]
    pub fn new() -> Self {
        EPOCH.fetch_add(1, Ordering::SeqCst);
        REQUESTS.fetch_add(1, Ordering::SeqCst);
        Request(())
    }
}

impl Default for Request {
    fn default() -> Self {
        Request::new()
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        REQUESTS.fetch_sub(1, Ordering::SeqCst);
    }
}

// Tested from Python (tests/test_attack.py, test_ctrl_c_interrupts_long_core_call): raising the process-wide flag inside `cargo test`
// would make the core tests running beside it skip tiles.
