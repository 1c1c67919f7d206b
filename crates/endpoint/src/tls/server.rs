//! The server side: [`TlsServer`] (a reloadable rustls server
//! configuration) and the accept loop of TLS listeners, which runs each
//! handshake in its own task, bounded in time and in number.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::material::{load_chain, load_key, load_trust};
use super::reload::{register, Reload};
use super::verify::ClientCheck;
use super::{defaults, provider, trust_text, PeerCertificate, VERSIONS};
use crate::listener::Listener;
use crate::peer::PeerInfo;
use crate::stream::Stream;
use crate::uri::SocketUri;

/// Handshakes in progress at once on one listener; beyond, accepting waits.
const MAX_HANDSHAKES: usize = 1024;

/// Whether a server asks clients for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked (`tls+`).
    #[default]
    None,
    /// Asked; a client without one is accepted, one with a bad one refused.
    Optional,
    /// Required (`mtls+`).
    Required,
}

/// What a TLS server is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file.
    pub key: PathBuf,
    /// Trust for client certificates (empty: the system store); used only
    /// when client certificates are asked.
    pub trust: Vec<PathBuf>,
    /// Whether client certificates are asked.
    pub client_auth: ClientAuth,
    /// The name a client certificate must carry (`host=` of an `mtls+`
    /// server URI); `None`: any name.
    pub client_name: Option<String>,
    /// ALPN protocols offered, in order of preference (empty: none).
    pub alpn: Vec<Vec<u8>>,
    /// What it serves, for messages (`--https`, a socket URI).
    pub what: String,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
}

fn from_query(uri: &SocketUri, key: &str) -> Option<PathBuf> {
    uri.query.get(key).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The trust of a URI: the process-wide trust, then its `trust=` values.
pub(crate) fn uri_trust(uri: &SocketUri, process: &[PathBuf]) -> Vec<PathBuf> {
    let mut trust = process.to_vec();
    trust.extend(
        uri.query
            .iter()
            .filter(|(k, v)| *k == "trust" && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v)),
    );
    trust
}

impl ServerSettings {
    /// The settings of a `tls+`/`mtls+` listening URI: `cert=`/`key=` or
    /// the process-wide ones, the process-wide trust and `trust=`, client
    /// certificates required with `mtls+` (and then named `host=` if given).
    pub fn for_uri(uri: &SocketUri) -> Result<ServerSettings, String> {
        let d = defaults();
        let who = if uri.prefixes.mutual_tls() {
            "an mtls+"
        } else {
            "a tls+"
        };
        let cert = from_query(uri, "cert")
            .or(d.cert)
            .ok_or_else(|| format!("{who} server needs a certificate (--tls-cert or cert=)"))?;
        let key = from_query(uri, "key")
            .or(d.key)
            .ok_or_else(|| format!("{who} server needs a private key (--tls-key or key=)"))?;
        let mutual = uri.prefixes.mutual_tls();
        Ok(ServerSettings {
            cert,
            key,
            trust: uri_trust(uri, &d.trust),
            client_auth: if mutual { ClientAuth::Required } else { ClientAuth::None },
            client_name: mutual
                .then(|| uri.query.get("host").filter(|h| !h.is_empty()).map(str::to_owned))
                .flatten(),
            alpn: Vec::new(),
            what: uri.to_string(),
            handshake_timeout: d.handshake_timeout,
        })
    }
}

/// A name to check in a certificate.
pub(crate) fn checked_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|_| {
        format!("{name:?} is neither a host name nor an IP address: it cannot be checked in a certificate")
    })
}

fn build(s: &ServerSettings) -> Result<ServerConfig, String> {
    let chain = load_chain(&s.cert)?;
    let key = load_key(&s.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| e.to_string())?;
    let builder = match s.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        mode => {
            let roots = Arc::new(load_trust(&s.trust)?);
            let mut b = WebPkiClientVerifier::builder_with_provider(roots, provider());
            if mode == ClientAuth::Optional {
                b = b.allow_unauthenticated();
            }
            let v = b
                .build()
                .map_err(|e| format!("client certificates checked against {}: {e}", trust_text(&s.trust)))?;
            let v: Arc<dyn ClientCertVerifier> = match &s.client_name {
                Some(n) => Arc::new(ClientCheck::new(v, checked_name(n)?)),
                None => v,
            };
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "the certificate {} and the key {} cannot serve: {e}",
            s.cert.display(),
            s.key.display()
        )
    })?;
    config.alpn_protocols = s.alpn.clone();
    Ok(config)
}

/// A reloadable TLS server configuration.
pub struct TlsServer {
    settings: ServerSettings,
    config: RwLock<Arc<ServerConfig>>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").field("settings", &self.settings).finish()
    }
}

impl TlsServer {
    /// Loads the files; the error names the file and what is wrong. The
    /// server is then reloaded by [`super::reload_all`].
    pub fn new(settings: ServerSettings) -> Result<Arc<TlsServer>, String> {
        let config = build(&settings).map_err(|e| format!("{}: {e}", settings.what))?;
        let me = Arc::new(TlsServer {
            settings,
            config: RwLock::new(Arc::new(config)),
        });
        register(me.clone());
        Ok(me)
    }

    /// What it is made of.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether clients must show a certificate.
    pub fn mutual(&self) -> bool {
        self.settings.client_auth == ClientAuth::Required
    }

    /// What a failed handshake log line adds: our material.
    fn context(&self) -> String {
        let s = &self.settings;
        let mut c = format!("our certificate {}", s.cert.display());
        if s.client_auth != ClientAuth::None {
            c.push_str(&format!(
                "; client certificates checked against {}",
                trust_text(&s.trust)
            ));
            if let Some(n) = &s.client_name {
                c.push_str(&format!(" and the name {n}"));
            }
        }
        c
    }

    /// The server side of a handshake on an accepted `stream`, within the
    /// handshake timeout. A failure is logged (one line) and gives `None`.
    pub async fn handshake(&self, stream: Stream, peer: PeerInfo, listener: &str) -> Option<(Stream, PeerInfo)> {
        let acceptor = TlsAcceptor::from(self.config());
        let limit = self.settings.handshake_timeout;
        match tokio::time::timeout(limit, acceptor.accept(stream)).await {
            Ok(Ok(s)) => {
                let certificate = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| PeerCertificate::from_der(c))
                    .map(Arc::new);
                let peer = PeerInfo::Tls {
                    inner: Box::new(peer),
                    certificate,
                };
                Some((Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(s))), peer))
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    "TLS handshake on {listener} with {peer} failed: {e} ({})",
                    self.context()
                );
                None
            }
            Err(_) => {
                tracing::warn!(
                    "TLS handshake on {listener} with {peer}: not done within {} s, connection dropped",
                    limit.as_secs_f64()
                );
                None
            }
        }
    }
}

impl Reload for TlsServer {
    fn reload(&self) -> Result<(), String> {
        let config = build(&self.settings)?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    fn what(&self) -> String {
        self.settings.what.clone()
    }
}

/// What a TLS listener hands to `accept`.
pub(crate) type Accepted = io::Result<(Stream, PeerInfo)>;

/// Accepts on `raw` and runs each handshake in its own task (at most
/// [`MAX_HANDSHAKES`] at once); sends the connections whose handshake
/// succeeded, and the accept errors, to `tx`. Ends when `tx` is closed;
/// the handshakes in progress are then dropped with it.
pub(crate) async fn accept_loop(raw: Listener, tls: Arc<TlsServer>, tx: mpsc::Sender<Accepted>, shown: Arc<str>) {
    let limit = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = tx.closed() => return,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
        };
        let accepted = tokio::select! {
            r = raw.accept() => r,
            _ = tx.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (tls, tx, shown) = (tls.clone(), tx.clone(), shown.clone());
                handshakes.spawn(async move {
                    let _permit = permit;
                    if let Some(done) = tls.handshake(stream, peer, &shown).await {
                        let _ = tx.send(Ok(done)).await;
                    }
                });
            }
            Err(e) => {
                if tx.send(Err(e)).await.is_err() {
                    return;
                }
                // Out of descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
