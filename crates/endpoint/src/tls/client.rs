//! The client side: [`TlsClient`], a reloadable rustls client
//! configuration with the name to check, and the handshake of connectors.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::material::{load_chain, load_key, load_trust};
use super::reload::{register, Reload};
use super::server::{checked_name, uri_trust};
use super::verify::ServerCheck;
use super::{defaults, provider, trust_text, VERSIONS};
use crate::stream::Stream;
use crate::uri::{Address, Host, SocketUri};

/// What a TLS client is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Certificate chain shown when the server asks for one.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// Trust for the server's certificate (empty: the system store).
    pub trust: Vec<PathBuf>,
    /// The name the server's certificate must carry; `None`: no name
    /// check (the chain is still checked).
    pub name: Option<String>,
    /// ALPN protocols offered (empty: none).
    pub alpn: Vec<Vec<u8>>,
    /// Whether sessions are resumed (abbreviated handshakes).
    pub resumption: bool,
    /// What it connects to, for messages.
    pub what: String,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
}

impl ClientSettings {
    /// Settings to connect to `what` checking `name`, with the
    /// process-wide material.
    pub fn new(what: impl Into<String>, name: Option<String>) -> ClientSettings {
        let d = defaults();
        ClientSettings {
            cert: d.cert,
            key: d.key,
            trust: d.trust,
            name,
            alpn: Vec::new(),
            resumption: true,
            what: what.into(),
            handshake_timeout: d.handshake_timeout,
        }
    }

    /// The settings of a `tls+`/`mtls+` URI to connect to: `cert=`/`key=`
    /// or the process-wide ones (required with `mtls+`, shown if the
    /// server asks with `tls+`), the process-wide trust and `trust=`, the
    /// name of [`SocketUri::tls_name`].
    pub fn for_uri(uri: &SocketUri) -> Result<ClientSettings, String> {
        let d = defaults();
        let mut s = ClientSettings::new(uri.to_string(), uri.tls_name());
        let pick = |key: &str, process: Option<PathBuf>| {
            uri.query
                .get(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or(process)
        };
        s.cert = pick("cert", d.cert);
        s.key = pick("key", d.key);
        s.trust = uri_trust(uri, &d.trust);
        if uri.prefixes.mutual_tls() && (s.cert.is_none() || s.key.is_none()) {
            return Err(
                "an mtls+ client needs a certificate and a private key (--tls-cert and --tls-key, or cert= and key=)"
                    .into(),
            );
        }
        Ok(s)
    }
}

impl SocketUri {
    /// The name a TLS client checks in the server's certificate: `host=`
    /// (empty: none), else the host of a `tcp:` address; none for an
    /// address without a host (`tcp:*:PORT`, `unix:`, `char:`).
    pub fn tls_name(&self) -> Option<String> {
        match self.query.get("host") {
            Some("") => None,
            Some(h) => Some(h.to_owned()),
            None => match &self.address {
                Address::Tcp {
                    host: Host::Name(h), ..
                } => Some(h.clone()),
                _ => None,
            },
        }
    }
}

fn build(s: &ClientSettings, name: Option<ServerName<'static>>) -> Result<ClientConfig, String> {
    let roots = Arc::new(load_trust(&s.trust)?);
    let sni = matches!(name, Some(ServerName::DnsName(_)));
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerCheck::new(roots, name)));
    let mut config = match (&s.cert, &s.key) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(load_chain(c)?, load_key(k)?)
            .map_err(|e| {
                format!(
                    "the certificate {} and the key {} cannot serve: {e}",
                    c.display(),
                    k.display()
                )
            })?,
        (None, None) => builder.with_no_client_auth(),
        (Some(c), None) => return Err(format!("the certificate {} is given without a key", c.display())),
        (None, Some(k)) => return Err(format!("the key {} is given without a certificate", k.display())),
    };
    config.alpn_protocols = s.alpn.clone();
    config.enable_sni = sni;
    if !s.resumption {
        config.resumption = Resumption::disabled();
    }
    Ok(config)
}

/// A reloadable TLS client configuration.
pub struct TlsClient {
    settings: ClientSettings,
    /// Given to rustls (SNI when it is a host name); the check itself uses
    /// `settings.name`.
    server_name: ServerName<'static>,
    config: RwLock<Arc<ClientConfig>>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").field("settings", &self.settings).finish()
    }
}

impl TlsClient {
    /// Loads the files; the error names the file and what is wrong. The
    /// client is then reloaded by [`super::reload_all`].
    pub fn new(settings: ClientSettings) -> Result<Arc<TlsClient>, String> {
        let fail = |e: String| format!("{}: {e}", settings.what);
        let name = settings.name.as_deref().map(checked_name).transpose().map_err(fail)?;
        let config = build(&settings, name.clone()).map_err(fail)?;
        let me = Arc::new(TlsClient {
            server_name: name.unwrap_or(ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into())),
            settings,
            config: RwLock::new(Arc::new(config)),
        });
        register(me.clone());
        Ok(me)
    }

    /// What it is made of.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    fn config(&self) -> Arc<ClientConfig> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn context(&self) -> String {
        let s = &self.settings;
        let mut c = match &s.name {
            Some(n) => format!("expected name {n}"),
            None => "no name check".to_owned(),
        };
        c.push_str(&format!("; trust: {}", trust_text(&s.trust)));
        if let Some(cert) = &s.cert {
            c.push_str(&format!("; our certificate {}", cert.display()));
        }
        c
    }

    /// The client side of a handshake on a connected `stream`, within the
    /// handshake timeout; the error says why, with the name and trust used.
    pub async fn handshake(&self, stream: Stream) -> io::Result<Stream> {
        let connector = TlsConnector::from(self.config());
        let limit = self.settings.handshake_timeout;
        match tokio::time::timeout(limit, connector.connect(self.server_name.clone(), stream)).await {
            Ok(Ok(s)) => Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(s)))),
            Ok(Err(e)) => Err(io::Error::new(
                e.kind(),
                format!(
                    "TLS handshake with {} failed: {e} ({})",
                    self.settings.what,
                    self.context()
                ),
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "TLS handshake with {}: no answer within {} s",
                    self.settings.what,
                    limit.as_secs_f64()
                ),
            )),
        }
    }
}

impl Reload for TlsClient {
    fn reload(&self) -> Result<(), String> {
        let name = self.settings.name.as_deref().map(checked_name).transpose()?;
        let config = build(&self.settings, name)?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    fn what(&self) -> String {
        self.settings.what.clone()
    }
}
