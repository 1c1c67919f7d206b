//! What is known of the other end of an accepted connection.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Credentials of a unix-socket peer (`SO_PEERCRED`, read at accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id, when the kernel gives it.
    pub pid: Option<u32>,
}

/// Who connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerInfo {
    /// A TCP peer and its address.
    Tcp {
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A unix-socket peer.
    Unix {
        /// Its credentials (`None` if the kernel did not give them).
        cred: Option<PeerCred>,
        /// The socket file it connected to (`None`: abstract or passed socket).
        socket: Option<PathBuf>,
    },
}

impl PeerInfo {
    /// The unix peer's credentials.
    pub fn cred(&self) -> Option<PeerCred> {
        match self {
            PeerInfo::Unix { cred, .. } => *cred,
            PeerInfo::Tcp { .. } => None,
        }
    }

    /// The TCP peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        match self {
            PeerInfo::Tcp { remote } => Some(*remote),
            PeerInfo::Unix { .. } => None,
        }
    }
}

/// For logs: `tcp peer ADDR`, `unix peer pid P uid U`, `unix peer on PATH`.
impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerInfo::Tcp { remote } => write!(f, "tcp peer {remote}"),
            PeerInfo::Unix { cred: Some(c), .. } => {
                write!(f, "unix peer pid {} uid {}", c.pid.unwrap_or(0), c.uid)
            }
            PeerInfo::Unix { socket: Some(p), .. } => write!(f, "unix peer on {}", p.display()),
            PeerInfo::Unix { .. } => f.write_str("unix peer"),
        }
    }
}
