//! `sd:NAME`: listening sockets passed by systemd (socket activation).
//!
//! The process that owns the descriptors (the daemon reads `LISTEN_FDS`,
//! `LISTEN_FDNAMES` and `LISTEN_PID` once at start-up) hands them over with
//! [`provide`]; binding `sd:NAME` then takes the socket of that name, once.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

static PASSED: Mutex<Vec<(String, OwnedFd)>> = Mutex::new(Vec::new());

fn passed() -> MutexGuard<'static, Vec<(String, OwnedFd)>> {
    PASSED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes the sockets passed by systemd (name, descriptor) available to
/// `sd:NAME` listeners.
pub fn provide(fds: impl IntoIterator<Item = (String, OwnedFd)>) {
    passed().extend(fds);
}

/// Takes the first socket named `name` still available.
pub(crate) fn take(name: &str) -> io::Result<OwnedFd> {
    let mut all = passed();
    match all.iter().position(|(n, _)| n == name) {
        Some(i) => Ok(all.remove(i).1),
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no socket named {name:?} was passed by systemd (socket activation; still available: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
    }
}
