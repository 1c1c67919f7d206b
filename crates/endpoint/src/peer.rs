//! What is known of the other end of an accepted connection.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::tls::PeerCertificate;

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
        /// Its security label (`SO_PEERSEC`), when the kernel has one.
        label: Option<String>,
    },
    /// A peer over TLS.
    Tls {
        /// Who connected underneath (TCP or unix peer).
        inner: Box<PeerInfo>,
        /// The certificate it showed (mutual TLS), `None` if it showed none.
        certificate: Option<Arc<PeerCertificate>>,
    },
}

impl PeerInfo {
    /// The unix peer's credentials.
    pub fn cred(&self) -> Option<PeerCred> {
        match self {
            PeerInfo::Unix { cred, .. } => *cred,
            PeerInfo::Tcp { .. } => None,
            PeerInfo::Tls { inner, .. } => inner.cred(),
        }
    }

    /// The unix peer's security label (`SO_PEERSEC`).
    pub fn label(&self) -> Option<&str> {
        match self {
            PeerInfo::Unix { label, .. } => label.as_deref(),
            PeerInfo::Tcp { .. } => None,
            PeerInfo::Tls { inner, .. } => inner.label(),
        }
    }

    /// The certificate a TLS peer showed.
    pub fn certificate(&self) -> Option<&Arc<PeerCertificate>> {
        match self {
            PeerInfo::Tls { certificate, .. } => certificate.as_ref(),
            _ => None,
        }
    }

    /// Whether the peer came over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, PeerInfo::Tls { .. })
    }

    /// The TCP peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        match self {
            PeerInfo::Tcp { remote } => Some(*remote),
            PeerInfo::Unix { .. } => None,
            PeerInfo::Tls { inner, .. } => inner.remote_addr(),
        }
    }
}

/// For logs: `tcp peer ADDR`, `unix peer pid P uid U`, `unix peer on PATH`,
/// then for TLS ` (TLS, certificate SUBJECT)`.
impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerInfo::Tcp { remote } => write!(f, "tcp peer {remote}"),
            PeerInfo::Unix { cred: Some(c), .. } => {
                write!(f, "unix peer pid {} uid {}", c.pid.unwrap_or(0), c.uid)
            }
            PeerInfo::Unix { socket: Some(p), .. } => write!(f, "unix peer on {}", p.display()),
            PeerInfo::Unix { .. } => f.write_str("unix peer"),
            PeerInfo::Tls {
                inner,
                certificate: Some(c),
            } => write!(f, "{inner} (TLS, certificate {})", c.subject),
            PeerInfo::Tls { inner, .. } => write!(f, "{inner} (TLS)"),
        }
    }
}
