//! TLS for every transport: the `tls+` and `mtls+` URI prefixes, HTTPS
//! listeners and `wss://` clients, all on rustls (ring provider), TLS 1.2
//! and 1.3 only.
//!
//! - Material: a certificate chain and a private key (PEM, or DER when the
//!   file is not PEM), and trust: files (one or more certificates each) or
//!   directories of PEM files. The process-wide material is set once
//!   ([`set_defaults`], the daemon's `--tls-cert`, `--tls-key`,
//!   `--tls-trust`); a URI's `cert=` and `key=` replace it for that URI
//!   only, its `trust=` (repeatable) adds to the process-wide trust for that
//!   URI only. With no trust at all, the system store is used.
//! - Names ([`SocketUri::tls_name`]): a client checks that the server's
//!   certificate carries the name of `host=` (empty: no name check, the
//!   chain is still checked), else the host of a `tcp:` URI; a URI with no
//!   host (`unix:`, `tcp:*:PORT`...) checks no name unless `host=` gives
//!   one. A server checks a client certificate's name only when its URI has
//!   `host=NAME`. A certificate carries a name in its subject alternative
//!   names (DNS or IP); a certificate without any such name is matched on
//!   its common name (CN), as older certificates are.
//! - [`TlsServer`] and [`TlsClient`] hold the rustls configuration built
//!   from the files; [`reload_all`] builds every live one again from its
//!   files (SIGHUP): new connections use the new material, open ones go
//!   on; a reload that fails keeps the old material.
//! - Handshakes are bounded by [`TlsDefaults::handshake_timeout`]; on a
//!   listener they run in their own tasks, beside the accept loop, so that
//!   a slow or silent peer delays nobody; a failed handshake is one log line
//!   naming the listener, the peer and the reason.
//! - A peer's certificate becomes a [`PeerCertificate`] (subject and
//!   alternative names) in the listener's [`crate::PeerInfo`].
//!
//! [`SocketUri::tls_name`]: crate::SocketUri::tls_name

mod client;
mod identity;
mod material;
mod reload;
mod server;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::SupportedProtocolVersion;

pub use client::{ClientSettings, TlsClient};
pub use identity::PeerCertificate;
pub use reload::{reload_all, Reloaded};
pub use server::{ClientAuth, ServerSettings, TlsServer};

pub(crate) use server::accept_loop;

/// The query keys of TLS in socket URIs.
pub const QUERY_KEYS: [&str; 4] = ["cert", "key", "trust", "host"];

/// The default bound of a handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The process-wide TLS material and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDefaults {
    /// Certificate chain (`--tls-cert`).
    pub cert: Option<PathBuf>,
    /// Private key (`--tls-key`).
    pub key: Option<PathBuf>,
    /// Trusted certificates: files or directories (`--tls-trust`).
    pub trust: Vec<PathBuf>,
    /// How long a handshake may take (either side).
    pub handshake_timeout: Duration,
}

impl Default for TlsDefaults {
    fn default() -> Self {
        TlsDefaults {
            cert: None,
            key: None,
            trust: Vec::new(),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

static DEFAULTS: RwLock<Option<TlsDefaults>> = RwLock::new(None);

/// Sets the process-wide material (used by the `tls+`/`mtls+` listeners
/// and connectors made afterwards).
pub fn set_defaults(d: TlsDefaults) {
    *DEFAULTS.write().unwrap_or_else(|p| p.into_inner()) = Some(d);
}

/// The process-wide material.
pub fn defaults() -> TlsDefaults {
    DEFAULTS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The crypto provider: ring (it cross-compiles without a C toolchain of
/// the target). rustls deprecates it in favour of aws-lc-rs because ring
/// has no post-quantum key exchange: a known limit, see docs/tls.md.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    #[allow(deprecated)]
    let make = rustls::crypto::ring::default_provider;
    PROVIDER.get_or_init(|| Arc::new(make())).clone()
}

/// TLS 1.3 and 1.2, nothing older.
pub(crate) const VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// How trust paths are shown in messages.
pub(crate) fn trust_text(trust: &[PathBuf]) -> String {
    if trust.is_empty() {
        "the system trust store".to_owned()
    } else {
        trust
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
