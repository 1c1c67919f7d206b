//! The clock the metrics time requests with.
//!
//! Reading the monotonic clock twice per request cost `wsj1` 7 % of its
//! throughput with `--metrics` (issue 17, measured on a KVM guest whose
//! clock source is the TSC: the vDSO fences the counter read and scales
//! it). This clock reads the time-stamp counter itself when the kernel
//! uses it as its clock source (so it is constant, runs in sleep states
//! and agrees between CPUs), and converts tick counts into nanoseconds with
//! a scale measured against the monotonic clock over the first
//! [`CALIBRATION`] of use. Until then, and on machines without a usable
//! counter (other architectures, virtual machines on another clock
//! source), readings are monotonic-clock nanoseconds: a request timed
//! across the switch is converted by the kind of its first reading.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the counter is compared with the monotonic clock before its
/// scale is used (the error of the scale is below 0.01 % after it).
const CALIBRATION: Duration = Duration::from_millis(50);

/// Marks a reading of the monotonic clock (counter readings have it clear:
/// a 64-bit TSC takes decades at several GHz to set it).
const NANOS: u64 = 1 << 63;

/// Fixed-point shift of the scale (nanoseconds per tick times 2^32).
const SHIFT: u32 = 32;

/// How close together a counter reading and a monotonic-clock reading must
/// be to pair them (a thread preempted between the two would skew the scale).
const PAIR_WINDOW: Duration = Duration::from_micros(20);

/// The monotonic clock and the counter read at about the same instant: the
/// counter between two clock readings at most [`PAIR_WINDOW`] apart (a few
/// tries), or `None`.
fn pair() -> Option<(Instant, u64)> {
    for _ in 0..8 {
        let before = Instant::now();
        let ticks = crate::sys::cycles()?;
        let after = Instant::now();
        let gap = after.duration_since(before);
        if gap <= PAIR_WINDOW {
            return Some((before + gap / 2, ticks));
        }
    }
    None
}

/// A request clock: see the module documentation.
#[derive(Debug)]
pub struct Clock {
    /// Whether the counter may be used at all.
    tsc: bool,
    /// The monotonic clock and the counter read together at creation.
    start: Instant,
    start_ticks: u64,
    /// Nanoseconds per tick << [`SHIFT`], 0 until calibrated.
    scale: AtomicU64,
}

impl Clock {
    /// A clock that uses the counter when the kernel's clock source is the
    /// TSC.
    pub fn new() -> Self {
        let source = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource");
        Self::with_counter(source.is_ok_and(|s| s.trim() == "tsc"))
    }

    /// A clock that uses the counter when `tsc` is true and the CPU has one.
    pub fn with_counter(tsc: bool) -> Self {
        let paired = if tsc { pair() } else { None };
        let (start, start_ticks) = paired.unwrap_or_else(|| (Instant::now(), 0));
        Clock {
            tsc: paired.is_some(),
            start,
            start_ticks,
            scale: AtomicU64::new(0),
        }
    }

    /// Monotonic-clock nanoseconds since the clock was made, as a reading.
    fn nanos(&self) -> u64 {
        NANOS | u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(NANOS - 1)
    }

    /// The scale, measuring it once [`CALIBRATION`] has passed.
    fn scale(&self) -> Option<u64> {
        let s = self.scale.load(Ordering::Relaxed);
        if s != 0 {
            return Some(s);
        }
        if self.start.elapsed() < CALIBRATION {
            return None;
        }
        let (at, now) = pair()?;
        let ticks = now.wrapping_sub(self.start_ticks);
        let ns = at.saturating_duration_since(self.start);
        if ns < CALIBRATION || ticks == 0 {
            return None;
        }
        let ns = ns.as_nanos();
        let s = u64::try_from((ns << SHIFT) / u128::from(ticks))
            .unwrap_or(u64::MAX)
            .max(1);
        // Every thread that calibrates finds about the same scale; the
        // first one stays.
        let _ = self.scale.compare_exchange(0, s, Ordering::Relaxed, Ordering::Relaxed);
        Some(self.scale.load(Ordering::Relaxed))
    }

    /// A reading.
    #[inline]
    pub fn now(&self) -> u64 {
        if self.tsc && self.scale.load(Ordering::Relaxed) != 0 {
            if let Some(t) = crate::sys::cycles() {
                return t & !NANOS;
            }
        }
        if self.tsc {
            // Calibrates on a reading after CALIBRATION (a reading of the
            // monotonic clock until then).
            let _ = self.scale();
        }
        self.nanos()
    }

    /// The time since `began`, an earlier reading (0 if the clock seems to
    /// have gone back).
    #[inline]
    pub fn since(&self, began: u64) -> Duration {
        if began & NANOS != 0 {
            return Duration::from_nanos(self.nanos().saturating_sub(began));
        }
        match (self.scale(), crate::sys::cycles()) {
            (Some(s), Some(now)) => {
                let ticks = (now & !NANOS).saturating_sub(began);
                let ns = (u128::from(ticks) * u128::from(s)) >> SHIFT;
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
            // Counter readings are only made once calibrated.
            _ => Duration::ZERO,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sleeps `d` between two readings and checks what the clock says.
    fn measured(c: &Clock, d: Duration) -> Duration {
        let t = c.now();
        std::thread::sleep(d);
        c.since(t)
    }

    #[test]
    fn without_the_counter_readings_are_monotonic_nanoseconds() {
        let c = Clock::with_counter(false);
        let t = c.now();
        assert_ne!(t & NANOS, 0);
        let d = measured(&c, Duration::from_millis(20));
        assert!(d >= Duration::from_millis(20) && d < Duration::from_secs(2), "{d:?}");
        // A reading from the future (or garbage) gives zero, not a panic.
        assert_eq!(c.since(u64::MAX), Duration::ZERO);
    }

    #[test]
    fn the_counter_agrees_with_the_monotonic_clock_once_calibrated() {
        let c = Clock::with_counter(true);
        if crate::sys::cycles().is_none() {
            // Not an x86-64 CPU: the clock is the monotonic one.
            assert_ne!(c.now() & NANOS, 0);
            return;
        }
        // Before calibration: monotonic nanoseconds, converted as such even
        // when the request ends after the calibration.
        let early = c.now();
        assert_ne!(early & NANOS, 0);
        std::thread::sleep(CALIBRATION + Duration::from_millis(5));
        let _ = c.now();
        assert_ne!(c.scale.load(Ordering::Relaxed), 0, "calibrated");
        let d = c.since(early);
        assert!(d >= CALIBRATION && d < Duration::from_secs(5), "{d:?}");
        // After: counter readings, within 10 % of the monotonic clock over
        // 30 ms (the scale is far better; the margin is for a busy machine,
        // which makes the sleep longer, never shorter).
        assert_eq!(c.now() & NANOS, 0, "a counter reading");
        let m = Instant::now();
        let d = measured(&c, Duration::from_millis(30));
        let real = m.elapsed();
        assert!(d >= Duration::from_millis(27), "{d:?} for a 30 ms sleep");
        assert!(d <= real.mul_f64(1.1), "{d:?} for {real:?}");
        assert_eq!(c.since(u64::MAX >> 1), Duration::ZERO, "a reading from the future");
    }
}
