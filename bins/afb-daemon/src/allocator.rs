//! The daemon's memory allocator: mimalloc (feature `mimalloc`, on by
//! default), set to give freed memory back to the system at once.
//!
//! Why mimalloc: with glibc's malloc, memory freed on another thread than
//! the one that allocated it (a request made on a connection's thread and
//! answered on a Zenoh thread) empties one thread's cache and fills
//! another's, and most allocations then take the arena's slow path.
//! Measured in BENCHMARKS.md ("mimalloc as the allocator"): `wsj1` +16 %,
//! `zenoh-front` +64 %, the other scenarios within a few percent.
//!
//! Why the settings: with mimalloc's defaults the daemon held 8.7 MiB of
//! anonymous memory idle (0.8 with glibc's malloc) and 1,258 bytes per
//! session (298). Each 2 MiB of its arenas that it touched became a
//! transparent huge page, and freed pages were kept for a second. Without
//! huge pages and with freed pages returned at once, the daemon holds
//! 1.1 MiB idle and 300 bytes per session, with the same throughput. A user
//! who sets `MIMALLOC_ALLOW_THP` or `MIMALLOC_PURGE_DELAY` keeps their
//! choice. The kernel passes the huge-page setting on to the programs the
//! daemon starts (`--exec`).

use libmimalloc_sys as ffi;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` at the pinned
/// version; the test below recognises it by its default, 1000 ms).
const PURGE_DELAY: ffi::mi_option_t = 15;

/// Whether the user set one of these environment variables.
fn user_set(vars: &[&str]) -> bool {
    vars.iter().any(|v| std::env::var_os(v).is_some())
}

/// Sets the allocator up (first thing in `main`).
pub fn tune() {
    // mimalloc is built without its own `madvise(MADV_HUGEPAGE)` (feature
    // `no_thp`); on hosts whose transparent huge pages are `always`, the
    // kernel would still back its aligned arenas with huge pages.
    #[cfg(target_os = "linux")]
    if !user_set(&["MIMALLOC_ALLOW_THP"]) {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and sets a
        // flag of this process; it reads or writes no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    if !user_set(&["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]) {
        // SAFETY: `mi_option_set` writes one entry of mimalloc's option
        // table, after checking that the index is in range; any thread may
        // call it at any time (the allocator reads the option when it next
        // purges).
        unsafe { ffi::mi_option_set(PURGE_DELAY, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: `mi_option_get` reads one entry of the option table, after
        // checking that the index is in range.
        unsafe { ffi::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn tuning_sets_the_options_meant() {
        let delay_from_env = user_set(&["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]);
        // Before tuning: mimalloc's default identifies the option (a new
        // mimalloc that renumbers its options fails here).
        if !delay_from_env {
            assert_eq!(purge_delay(), 1000, "option {PURGE_DELAY} is not the purge delay");
        }
        tune();
        if !delay_from_env {
            assert_eq!(purge_delay(), 0);
        }
        #[cfg(target_os = "linux")]
        if !user_set(&["MIMALLOC_ALLOW_THP"]) {
            // SAFETY: integer arguments only; returns the process's flag.
            let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            assert_eq!(disabled, 1, "transparent huge pages disabled for the process");
        }
    }
}
