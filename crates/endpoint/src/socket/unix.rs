//! Unix sockets: socket files (with the stale-file rule) and Linux abstract
//! names; accepted peers carry their credentials.
//!
//! The stale-file rule, applied before binding `unix:PATH`:
//! - nothing at PATH: bind;
//! - a socket at PATH that refuses connections (`ECONNREFUSED`: its
//!   process is gone): remove it, then bind;
//! - a socket that accepts connections (or whose backlog is full): refuse,
//!   "in use";
//! - anything else (regular file, directory, symbolic link, a socket that
//!   cannot be probed): refuse, never remove.
//!
//! A listener removes its own socket file when it is dropped, unless the
//! file was replaced meanwhile.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

use crate::peer::{PeerCred, PeerInfo};

/// How long probing an existing socket file may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket file of a listener, removed on drop if it is still the one
/// the listener made (same device and inode).
#[derive(Debug)]
pub(crate) struct SocketFile {
    pub(crate) path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn in_use(path: &Path, how: &str) -> io::Error {
    io::Error::new(io::ErrorKind::AddrInUse, format!("{} is in use: {how}", path.display()))
}

/// Applies the stale-file rule (module documentation) to `path`.
async fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(super::context(e, path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket (left as is)", path.display()),
        ));
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)
                .map_err(|e| super::context(e, format_args!("cannot remove the stale socket {}", path.display())))?;
            tracing::info!(
                "removed the stale socket file {} (nothing accepted on it)",
                path.display()
            );
            Ok(())
        }
        Ok(Ok(_)) => Err(in_use(path, "a process accepts connections on it")),
        Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
            Err(in_use(path, "a process listens on it (its backlog is full)"))
        }
        Ok(Err(e)) => Err(io::Error::new(
            e.kind(),
            format!("{} exists and cannot be probed ({e}): left as is", path.display()),
        )),
        Err(_) => Err(in_use(path, "connecting to it did not finish")),
    }
}

/// Pending connections a listening socket file keeps (the kernel caps it
/// at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 1024;

/// Listens on the socket file `path` (stale-file rule first), with
/// permissions `mode` when given.
pub(crate) async fn bind_path(path: &Path, mode: Option<u32>) -> io::Result<(UnixListener, SocketFile)> {
    clear_stale(path).await?;
    // Bound, given its permissions, and only then listening: until
    // `listen`, connecting to the file is refused, so no peer gets in
    // while the file still has the permissions of the umask.
    let socket = tokio::net::UnixSocket::new_stream()?;
    socket.bind(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let listener = socket.listen(LISTEN_BACKLOG)?;
    Ok((listener, file))
}

/// The path tokio reads as the abstract name `name`.
fn abstract_path(name: &str) -> PathBuf {
    PathBuf::from(format!("\0{name}"))
}

/// Listens on the abstract name `name`.
pub(crate) fn bind_abstract(name: &str) -> io::Result<UnixListener> {
    UnixListener::bind(abstract_path(name))
}

/// Connects to a socket file.
pub(crate) async fn connect_path(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path).await
}

/// Connects to an abstract name.
pub(crate) async fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    UnixStream::connect(abstract_path(name)).await
}

/// Accepts a connection; the peer's credentials come with it.
pub(crate) async fn accept(listener: &UnixListener, path: Option<&Path>) -> io::Result<(UnixStream, PeerInfo)> {
    let (s, _) = listener.accept().await?;
    let cred = s.peer_cred().ok().map(|c| PeerCred {
        uid: c.uid(),
        gid: c.gid(),
        pid: c.pid().and_then(|p| u32::try_from(p).ok()),
    });
    let socket = path.map(Path::to_path_buf);
    let label = super::peersec::label(&s);
    Ok((s, PeerInfo::Unix { cred, socket, label }))
}
