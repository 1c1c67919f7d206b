//! The time of a batch of work: messages that arrived together (one read of
//! a socket) are stamped with one clock reading instead of one each.
//!
//! A transport runs the synchronous handling of what one read gave inside
//! [`batch`]; the deadlines of the requests it dispatches, the calls a link
//! sends and the sessions it marks used then take [`now`] from that batch.
//! Outside a batch, [`now`] reads the clock. A batch never spans an
//! `.await` (it is a closure), so the time it gives is at most as old as the
//! synchronous work it encloses. The clock is tokio's, so that tests with a
//! paused clock see their deadlines move with it.

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    static BATCH: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The time of the current batch, or the clock outside one.
pub fn now() -> Instant {
    BATCH.with(Cell::get).unwrap_or_else(Instant::now)
}

/// Runs `f` as one batch: [`now`] gives the same time throughout (the time
/// of the outermost batch when nested).
pub fn batch<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the previous state, also when `f` panics.
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BATCH.with(|b| b.set(self.0));
        }
    }
    let outer = BATCH.with(Cell::get);
    let _restore = Restore(outer);
    if outer.is_none() {
        BATCH.with(|b| b.set(Some(Instant::now())));
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn one_time_per_batch_the_clock_outside() {
        let t0 = now();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(now() - t0, Duration::from_secs(1), "outside: the clock");
        let (a, b, nested) = batch(|| {
            let a = now();
            std::thread::sleep(Duration::from_millis(2));
            let nested = batch(now);
            (a, now(), nested)
        });
        assert_eq!((a, nested), (b, b));
        assert!(BATCH.with(Cell::get).is_none(), "cleared after the batch");
        let caught = std::panic::catch_unwind(|| batch(|| panic!("in a batch")));
        assert!(caught.is_err());
        assert!(BATCH.with(Cell::get).is_none(), "cleared after a panic");
    }
}
