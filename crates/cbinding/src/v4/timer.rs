//! The jobs, timers and file events of the v4 table. File event handlers
//! are not available (`evfd_create` answers "not available").

use std::ffi::{c_int, c_long, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use afb_binding_so::abi::{time_t, EvfdHandler, JobCallback, TimerHandler};

use super::Binder;
use crate::capi::ApiX3;
use crate::common;
use crate::errno::{FAILED, INTERNAL_ERROR, INVALID_REQUEST, NOT_AVAILABLE};
use crate::util::{self, guard, write_out, SendPtr};

// ---- jobs --------------------------------------------------------------------------

pub(super) unsafe extern "C" fn job_post(
    _root: *mut ApiX3,
    delay_ms: c_long,
    _timeout: c_int,
    cb: Option<JobCallback>,
    arg: *mut c_void,
    group: *mut c_void,
) -> c_int {
    guard("job post", INTERNAL_ERROR, || {
        common::queue_job(cb, arg, group, u64::try_from(delay_ms).unwrap_or(0))
    })
}

pub(super) extern "C" fn job_abort(_root: *mut ApiX3, id: c_int) -> c_int {
    guard("job abort", INTERNAL_ERROR, || common::abort_job(id))
}

// ---- file events (not available) ---------------------------------------------------------

pub(super) unsafe extern "C" fn evfd_create(
    efd: *mut *mut c_void,
    _fd: c_int,
    _events: u32,
    _handler: Option<EvfdHandler<Binder>>,
    _closure: *mut c_void,
    _autounref: c_int,
    _autoclose: c_int,
) -> c_int {
    util::not_available_once("file event handlers (afb_evfd_create)");
    // SAFETY: C gives a location for the handler (or NULL).
    unsafe { write_out(efd, std::ptr::null_mut()) };
    NOT_AVAILABLE
}

pub(super) extern "C" fn evfd_addref(efd: *mut c_void) -> *mut c_void {
    efd
}

pub(super) extern "C" fn evfd_unref(_efd: *mut c_void) {}

pub(super) extern "C" fn evfd_get_fd(_efd: *mut c_void) -> c_int {
    // No file descriptor.
    FAILED
}

pub(super) extern "C" fn evfd_get_events(_efd: *mut c_void) -> u32 {
    0
}

pub(super) extern "C" fn evfd_set_events(_efd: *mut c_void, _events: u32) {}

// ---- timers ------------------------------------------------------------------------

/// A timer (`afb_timer_t`).
pub struct Timer {
    refs: AtomicUsize,
    stopped: AtomicBool,
    /// Milliseconds between expirations (changed by `timer_modify_period`).
    period_ms: AtomicU32,
}

/// When a timer first expires, from now.
fn first_expiration(absolute: bool, start_sec: time_t, start_ms: c_uint) -> Duration {
    let start = Duration::from_secs(u64::try_from(start_sec).unwrap_or(0)) + Duration::from_millis(u64::from(start_ms));
    if absolute {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        start.saturating_sub(now)
    } else {
        start
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn timer_create(
    out: *mut *mut Timer,
    absolute: c_int,
    start_sec: time_t,
    start_ms: c_uint,
    count: c_uint,
    period_ms: c_uint,
    _accuracy_ms: c_uint,
    handler: Option<TimerHandler<Binder>>,
    closure: *mut c_void,
    autounref: c_int,
) -> c_int {
    guard("timer create", INTERNAL_ERROR, || {
        let Some(handler) = handler else { return INVALID_REQUEST };
        let Some(rt) = util::runtime() else {
            return NOT_AVAILABLE;
        };
        let first = first_expiration(absolute != 0, start_sec, start_ms);
        let t = Arc::new(Timer {
            refs: AtomicUsize::new(if autounref != 0 { 1 } else { 2 }),
            stopped: AtomicBool::new(false),
            period_ms: AtomicU32::new(period_ms),
        });
        let tp = SendPtr(Arc::into_raw(t.clone()).cast_mut().cast());
        // SAFETY: C gives a location for the timer (or NULL).
        unsafe { write_out(out, tp.get().cast()) };
        let closure = SendPtr(closure);
        let rt2 = rt.clone();
        let label = util::Label::current();
        rt.spawn(async move {
            tokio::time::sleep(first).await;
            let mut left = count;
            loop {
                if t.stopped.load(Ordering::Acquire) {
                    break;
                }
                let decount = if count == 0 { 0 } else { left };
                let job = rt2.spawn_blocking(move || {
                    guard("timer", (), || {
                        // SAFETY: the binding's timer handler with its closure.
                        label.run(|| unsafe { handler(tp.get().cast(), closure.get(), decount) })
                    })
                });
                let _ = job.await;
                if count != 0 {
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
                let period = t.period_ms.load(Ordering::Acquire).max(1);
                tokio::time::sleep(Duration::from_millis(u64::from(period))).await;
            }
            timer_unref(tp.get().cast());
        });
        0
    })
}

/// # Safety
/// `t` is NULL or a live timer.
unsafe fn timer_of<'a>(t: *mut Timer) -> Option<&'a Timer> {
    // SAFETY: per the contract.
    unsafe { t.as_ref() }
}

pub(super) extern "C" fn timer_addref(t: *mut Timer) -> *mut Timer {
    guard("timer addref", t, || {
        // SAFETY: C gives a live timer.
        if let Some(timer) = unsafe { timer_of(t) } {
            timer.refs.fetch_add(1, Ordering::AcqRel);
        }
        t
    })
}

pub(super) extern "C" fn timer_modify_period(t: *mut Timer, period_ms: c_uint) {
    guard("timer modify period", (), || {
        // SAFETY: C gives a live timer.
        if let Some(timer) = unsafe { timer_of(t) } {
            timer.period_ms.store(period_ms, Ordering::Release);
        }
    })
}

pub(super) extern "C" fn timer_unref(t: *mut Timer) {
    guard("timer unref", (), || {
        // SAFETY: C gives a live timer.
        let Some(timer) = (unsafe { timer_of(t) }) else { return };
        let left = timer.refs.fetch_sub(1, Ordering::AcqRel) - 1;
        if left <= 1 {
            timer.stopped.store(true, Ordering::Release);
        }
        if left == 0 {
            // SAFETY: the last reference: the Arc given to C is dropped once.
            drop(unsafe { Arc::from_raw(t.cast_const()) });
        }
    })
}
