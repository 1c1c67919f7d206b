//! Results of load runs: counts, latency histograms (nanoseconds, 3 significant digits), CPU
//! shares; summaries over several runs (median and spread); JSON forms.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// A latency histogram in nanoseconds, from 1 ns to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// What one measured load run gave.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Operations completed inside the measured window.
    pub ops: u64,
    /// Operations that failed (error replies, bad statuses) inside the window.
    pub errors: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Latency of each completed operation, in ns.
    pub hist: Histogram<u64>,
    /// CPU share (1.0 = one core) of the load generator over the window.
    pub load_cpu: Option<f64>,
    /// CPU share of the measured server processes (summed) over the window.
    pub server_cpu: Option<f64>,
    /// CPU share of everything else on the machine over the window (1.0 = one CPU): a busy
    /// neighbour makes the run noisy.
    pub other_cpu: Option<f64>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// Extra facts about the run (reconnects, fan-out completions, ...).
    pub extra: Vec<(String, f64)>,
}

impl LoadResult {
    /// Operations per second.
    pub fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ops as f64 / s
        } else {
            0.0
        }
    }

    /// Latency percentile in µs (`q` in 0..=100).
    pub fn pct_us(&self, q: f64) -> f64 {
        pct_us(&self.hist, q)
    }

    /// One line for humans.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:>10.0} ops/s  ops {} errors {}  lat µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
            self.throughput(),
            self.ops,
            self.errors,
            self.pct_us(50.0),
            self.pct_us(90.0),
            self.pct_us(99.0),
            self.pct_us(99.9),
            self.hist.max() as f64 / 1000.0
        );
        if let Some(c) = self.server_cpu {
            s.push_str(&format!("  server cpu {:.0}%", c * 100.0));
        }
        if let Some(c) = self.load_cpu {
            s.push_str(&format!("  load cpu {:.0}%", c * 100.0));
        }
        if let Some(c) = self.other_cpu {
            s.push_str(&format!("  other cpu {:.0}%", c * 100.0));
        }
        for (k, v) in &self.extra {
            s.push_str(&format!("  {k} {v}"));
        }
        if let Some(e) = &self.first_error {
            s.push_str(&format!("\n  first error: {e}"));
        }
        s
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        let extra: serde_json::Map<String, Value> = self.extra.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        json!({
            "ops": self.ops,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "throughput": self.throughput(),
            "latency_us": latency_json(&self.hist),
            "server_cpu": self.server_cpu,
            "load_cpu": self.load_cpu,
            "other_cpu": self.other_cpu,
            "first_error": self.first_error,
            "extra": extra,
        })
    }
}

/// Percentile `q` of `h`, in µs.
pub fn pct_us(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return f64::NAN;
    }
    h.value_at_quantile(q / 100.0) as f64 / 1000.0
}

/// p50/p90/p99/p99.9/max of `h` as a JSON object, in µs.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": pct_us(h, 50.0),
        "p90": pct_us(h, 90.0),
        "p99": pct_us(h, 99.0),
        "p99.9": pct_us(h, 99.9),
        "max": h.max() as f64 / 1000.0,
        "count": h.len(),
    })
}

/// Median, minimum and maximum of some values (NaN-free input expected).
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// JSON form.
    pub fn to_json(self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }
}

/// Merges the histograms of several runs.
pub fn merged(runs: &[LoadResult]) -> Histogram<u64> {
    let mut h = new_histogram();
    for r in runs {
        let _ = h.add(&r.hist);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, f64::NAN, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn percentiles_in_microseconds() {
        let mut h = new_histogram();
        for ns in 1..=1000u64 {
            h.record(ns * 1000).unwrap();
        }
        assert!((pct_us(&h, 50.0) - 500.0).abs() < 1.0);
        assert!((pct_us(&h, 99.0) - 990.0).abs() < 1.5);
        assert!(pct_us(&new_histogram(), 50.0).is_nan());
    }
}
