//! Thread pools by size. Python chooses the thread count per call. Two pools are kept: one with
//! as many workers as the machine has CPUs (the usual default) and the most recent other size,
//! so switching `set_num_threads` back and forth between two values costs nothing after the first
//! use while a sweep over many sizes does not leave a pool of threads behind for each.
//!
//! A panic inside a call is caught here and returned as [`CoreError::Internal`], so no Rust panic
//! reaches Python as `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::CoreError;

/// The most worker threads a call may ask for.
pub const MAX_THREADS: usize = 1024;

#[derive(Default)]
struct Pools {
    default: Option<Arc<ThreadPool>>,
    other: Option<(usize, Arc<ThreadPool>)>,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn build(threads: usize) -> Result<Arc<ThreadPool>, CoreError> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("imcombiners-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| CoreError::ThreadPool(e.to_string()))
}

fn pool(threads: usize) -> Result<Arc<ThreadPool>, CoreError> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    if threads > MAX_THREADS {
        return Err(CoreError::Value {
            name: "threads",
            message: format!("must be between 1 and {MAX_THREADS}, got {threads}"),
        });
    }
    let threads = threads.max(1);
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(Pools::default()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if threads == cpus() {
        if pools.default.is_none() {
            pools.default = Some(build(threads)?);
        }
        return Ok(Arc::clone(pools.default.as_ref().expect("just set")));
    }
    if let Some((size, p)) = &pools.other {
        if *size == threads {
            return Ok(Arc::clone(p));
        }
    }
    // Replacing the previous pool drops it: its threads end once calls still using it return.
    let p = build(threads)?;
    pools.other = Some((threads, Arc::clone(&p)));
    Ok(p)
}

/// Runs `f` on a pool of `threads` workers (at least one).
///
/// # Errors
/// If `threads` exceeds [`MAX_THREADS`], the pool cannot be created, or `f` panics.
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, CoreError> {
    let pool = pool(threads)?;
    catch_unwind(AssertUnwindSafe(|| pool.install(f))).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        CoreError::Internal(what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_of_the_requested_size() {
        assert_eq!(install(3, rayon::current_num_threads).unwrap(), 3);
        assert_eq!(install(0, rayon::current_num_threads).unwrap(), 1);
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let err = install(2, || -> usize { panic!("boom") }).unwrap_err();
        assert_eq!(err, CoreError::Internal("boom".to_string()));
    }

    #[test]
    fn too_many_threads_are_refused() {
        assert!(matches!(
            install(MAX_THREADS + 1, || ()),
            Err(CoreError::Value {
                name: "threads",
                ..
            })
        ));
    }
}
