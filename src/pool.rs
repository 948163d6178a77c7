//! Thread pools by size. Python chooses the thread count per call; a pool of each size is built
//! once and kept, so changing `set_num_threads` back and forth costs nothing after the first use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::CoreError;

fn pool(threads: usize) -> Result<Arc<ThreadPool>, CoreError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let threads = threads.max(1);
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(p) = pools.get(&threads) {
        return Ok(Arc::clone(p));
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("imcombiners-{i}"))
        .build()
        .map_err(|e| CoreError::ThreadPool(e.to_string()))?;
    let p = Arc::new(p);
    pools.insert(threads, Arc::clone(&p));
    Ok(p)
}

/// Runs `f` on a pool of `threads` workers (at least one).
///
/// # Errors
/// If the pool cannot be created.
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, CoreError> {
    Ok(pool(threads)?.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_of_the_requested_size() {
        assert_eq!(install(3, rayon::current_num_threads).unwrap(), 3);
        assert_eq!(install(0, rayon::current_num_threads).unwrap(), 1);
    }
}
