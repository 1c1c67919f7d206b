//! The security label of a unix-socket peer (`SO_PEERSEC`): the one
//! `getsockopt` call of the endpoint layer that needs `unsafe`.

use std::os::fd::AsRawFd;

/// Longest label read (as the C binders).
const MAX_LABEL: usize = 1024;

/// The peer's security label, `None` when the kernel has none (no LSM,
/// or an error). A trailing NUL is left out.
pub(crate) fn label(sock: &impl AsRawFd) -> Option<String> {
    let mut buf = vec![0u8; MAX_LABEL];
    let mut len = MAX_LABEL as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a valid
    // pointer; the descriptor is a live socket borrowed for the call.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERSEC,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    buf.truncate(usize::try_from(len).ok()?.min(MAX_LABEL));
    while buf.last() == Some(&0) {
        buf.pop();
    }
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}
