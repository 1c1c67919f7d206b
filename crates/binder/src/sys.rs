//! The one place where the daemon needs `unsafe`: taking ownership of the
//! listening sockets that systemd passes by socket activation, the handler
//! of fatal signals, and reading the CPU's time-stamp counter.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

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

// ---- fatal signals ------------------------------------------------------------

/// The signals that kill the daemon after one line on stderr.
const FATAL: [(libc::c_int, &[u8]); 5] = [
    (libc::SIGSEGV, b"SIGSEGV"),
    (libc::SIGBUS, b"SIGBUS"),
    (libc::SIGILL, b"SIGILL"),
    (libc::SIGFPE, b"SIGFPE"),
    (libc::SIGABRT, b"SIGABRT"),
];

/// The actions in place before ours (Rust's stack-overflow report for
/// SIGSEGV and SIGBUS), in the order of [`FATAL`].
static PREVIOUS: OnceLock<[libc::sigaction; 5]> = OnceLock::new();

/// Set by the first report: a second fatal signal (an abort following a
/// stack overflow) adds no line.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// A line built without allocation, cut at its capacity.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.buf.len() - 1 {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
}

/// Async-signal-safe: writes one pre-formatted line (`write(2)`), gives
/// the signal to the handler that was there before (if any), restores the
/// default action and raises the signal again, so that the process dies of
/// it (core dump, exit status) as it would have without this handler.
extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let index = FATAL.iter().position(|(s, _)| *s == sig);
    if !REPORTED.swap(true, Ordering::SeqCst) {
        let mut line = Line { buf: [0; 512], len: 0 };
        line.push(b"<2> CRITICAL: fatal signal ");
        line.push(index.map_or(b"?".as_slice(), |i| FATAL[i].1));
        if let Some(label) = afb_cbinding::current_binding() {
            line.push(b" in the C ");
            line.push(label);
        }
        line.push(b": the daemon dies\n");
        if !line.buf[..line.len].ends_with(b"\n") {
            line.buf[line.len] = b'\n';
            line.len += 1;
        }
        // SAFETY: write(2) of initialised bytes of a local buffer.
        unsafe { libc::write(2, line.buf.as_ptr().cast(), line.len) };
    }
    let prev = index.and_then(|i| PREVIOUS.get().map(|p| p[i]));
    if let Some(p) = prev {
        let h = p.sa_sigaction;
        if h != libc::SIG_DFL && h != libc::SIG_IGN && p.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the handler installed before ours, with the arguments
            // the kernel gave (it declared SA_SIGINFO).
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(h) };
            f(sig, info, ctx);
        }
    }
    // SAFETY: signal(2) and raise(3) are async-signal-safe; the signal is
    // blocked while this handler runs, so it is delivered, with the default
    // action, when the handler returns.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the fatal-signal handler (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGABRT): one line on stderr naming the signal and, when the faulting
/// thread was running a C binding's code, the binding
/// (`<2> CRITICAL: fatal signal SIGSEGV in the C binding /x/y.so (API z):
/// the daemon dies`); then the process dies of the signal. Once per
/// process; later calls do nothing.
pub fn install_fatal_signal_handler() {
    if PREVIOUS.get().is_some() {
        return;
    }
    // SAFETY: plain C structures, zeroed then filled; sigaction(2) with
    // valid pointers; the handler only does async-signal-safe work.
    unsafe {
        let mut previous: [libc::sigaction; 5] = std::mem::zeroed();
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_fatal_signal as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        for (i, (sig, _)) in FATAL.iter().enumerate() {
            libc::sigaction(*sig, std::ptr::null(), &mut previous[i]);
        }
        if PREVIOUS.set(previous).is_err() {
            return;
        }
        for (sig, _) in FATAL.iter() {
            libc::sigaction(*sig, &act, std::ptr::null_mut());
        }
    }
}

/// The CPU's time-stamp counter (x86-64), `None` elsewhere. Not ordered with
/// the instructions around it (no fence): good for timing requests, whose
/// durations are microseconds, not for timing a few instructions.
#[inline]
pub fn cycles() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` reads a register and touches no memory; every
        // x86-64 CPU has it, and user space may run it unless the kernel set
        // CR4.TSD, which Linux does only for seccomp-strict processes, which
        // cannot run the daemon at all. Whether its value is usable as a
        // clock is `clock::Clock`'s business (the kernel's clock source).
        Some(unsafe { std::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
