//! The one place where the daemon needs `unsafe`: taking ownership of the
//! listening sockets that systemd passes by socket activation.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

static TAKEN: AtomicBool = AtomicBool::new(false);

/// The sockets passed by socket activation (`LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`), each with its name (`unknown` when unnamed), as
/// close-on-exec owned descriptors. Empty when none were passed to this
/// process, and on any call after the first.
pub fn take_activation_fds() -> Vec<(String, OwnedFd)> {
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let fds: Vec<(RawFd, String)> = match sd_notify::listen_fds_with_names() {
        Ok(it) => it.collect(),
        Err(e) => {
            tracing::warn!("ignoring socket activation: {e}");
            return Vec::new();
        }
    };
    fds.into_iter()
        .map(|(raw, name)| {
            // SAFETY: `listen_fds_with_names` returns the descriptors systemd
            // passed to this very process (it checks LISTEN_PID): they are
            // open, nothing else in the process uses them, and the `TAKEN` flag
            // lets this happen once per process, so each gets exactly one owner.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            (name, fd)
        })
        .collect()
}
