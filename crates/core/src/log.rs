//! Log levels of the binder (syslog numbering) and per-API logging.
//!
//! Messages of APIs go to `tracing` with target `afb_api` and the fields
//! `api` and `syslog` (the syslog level, so that a formatter can tell NOTICE
//! from INFO). The per-API level is checked here, before the event is made;
//! a subscriber should let the `afb_api` target through at every level.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// A log level, numbered as syslog does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum LogLevel {
    /// Error conditions.
    Error = 3,
    /// Warning conditions.
    Warning = 4,
    /// Normal but significant.
    Notice = 5,
    /// Informational.
    Info = 6,
    /// Debugging.
    Debug = 7,
}

impl LogLevel {
    /// All levels, most severe first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warning,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// The syslog number.
    pub fn syslog(self) -> u8 {
        self as u8
    }

    /// From a syslog number (values below 3 are errors, above 7 debug).
    pub fn from_syslog(n: u8) -> Self {
        match n {
            0..=3 => LogLevel::Error,
            4 => LogLevel::Warning,
            5 => LogLevel::Notice,
            6 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }

    /// Lower-case name (`"warning"`).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// Upper-case label used in log lines (`"WARNING"`).
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Error => "ERROR",
            LogLevel::Warning => "WARNING",
            LogLevel::Notice => "NOTICE",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
        }
    }

    /// One step more verbose (`-v`).
    pub fn more(self) -> Self {
        Self::from_syslog(self.syslog().saturating_add(1))
    }

    /// One step less verbose (`-q`).
    pub fn less(self) -> Self {
        Self::from_syslog(self.syslog().saturating_sub(1).max(3))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown level name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLevel(pub String);

impl fmt::Display for BadLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level {:?} (expected error, warning, notice, info, debug or 0..7)",
            self.0
        )
    }
}

impl std::error::Error for BadLevel {}

impl FromStr for LogLevel {
    type Err = BadLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        Ok(match l.as_str() {
            "error" | "err" | "e" | "critical" | "alert" | "emergency" => LogLevel::Error,
            "warning" | "warn" | "w" => LogLevel::Warning,
            "notice" | "n" => LogLevel::Notice,
            "info" | "i" => LogLevel::Info,
            "debug" | "d" => LogLevel::Debug,
            _ => match l.parse::<u8>() {
                Ok(n) if n <= 7 => LogLevel::from_syslog(n),
                _ => return Err(BadLevel(s.to_owned())),
            },
        })
    }
}

/// An atomically settable level.
#[derive(Debug)]
pub struct AtomicLevel(AtomicU8);

impl AtomicLevel {
    /// Starts at `level`.
    pub fn new(level: LogLevel) -> Self {
        AtomicLevel(AtomicU8::new(level.syslog()))
    }

    /// The current level.
    pub fn get(&self) -> LogLevel {
        LogLevel::from_syslog(self.0.load(Ordering::Relaxed))
    }

    /// Sets the level.
    pub fn set(&self, level: LogLevel) {
        self.0.store(level.syslog(), Ordering::Relaxed)
    }

    /// Whether messages of `level` pass.
    pub fn enabled(&self, level: LogLevel) -> bool {
        level.syslog() <= self.0.load(Ordering::Relaxed)
    }
}

/// Emits one API log message to `tracing` (no level check here).
pub fn emit(api: &str, level: LogLevel, args: fmt::Arguments<'_>) {
    let syslog = level.syslog();
    match level {
        LogLevel::Error => tracing::error!(target: "afb_api", api, syslog, "{}", args),
        LogLevel::Warning => tracing::warn!(target: "afb_api", api, syslog, "{}", args),
        LogLevel::Notice | LogLevel::Info => tracing::info!(target: "afb_api", api, syslog, "{}", args),
        LogLevel::Debug => tracing::debug!(target: "afb_api", api, syslog, "{}", args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!("warning".parse::<LogLevel>().unwrap(), LogLevel::Warning);
        assert_eq!("DEBUG".parse::<LogLevel>().unwrap(), LogLevel::Debug);
        assert_eq!("5".parse::<LogLevel>().unwrap(), LogLevel::Notice);
        assert!("loud".parse::<LogLevel>().is_err());
        assert!("9".parse::<LogLevel>().is_err());
        assert!(LogLevel::Error < LogLevel::Debug);
        assert_eq!(LogLevel::Warning.more(), LogLevel::Notice);
        assert_eq!(LogLevel::Debug.more(), LogLevel::Debug);
        assert_eq!(LogLevel::Error.less(), LogLevel::Error);
        assert_eq!(LogLevel::Info.less(), LogLevel::Notice);
    }

    #[test]
    fn atomic_filter() {
        let l = AtomicLevel::new(LogLevel::Warning);
        assert!(l.enabled(LogLevel::Error));
        assert!(l.enabled(LogLevel::Warning));
        assert!(!l.enabled(LogLevel::Notice));
        l.set(LogLevel::Debug);
        assert!(l.enabled(LogLevel::Debug));
        assert_eq!(l.get(), LogLevel::Debug);
    }
}
