//! The one connector type: connects to any address a client may name, with
//! TLS on top for `tls+`/`mtls+` URIs.

use std::io;
use std::sync::Arc;

use crate::socket::{serial, tcp, unix};
use crate::stream::Stream;
use crate::tls::{ClientSettings, TlsClient};
use crate::uri::{Address, SocketUri, UriError};

/// Where a client connects, checked when it is made.
#[derive(Debug, Clone)]
pub struct Connector {
    address: Address,
    tls: Option<Arc<TlsClient>>,
}

/// Same address, and the same TLS settings (or none).
impl PartialEq for Connector {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
            && match (&self.tls, &other.tls) {
                (None, None) => true,
                (Some(a), Some(b)) => a.settings() == b.settings(),
                _ => false,
            }
    }
}

impl Eq for Connector {}

impl Connector {
    /// A connector for `uri`. Refused: `sd:` (servers only), TCP port 0.
    /// `tls+`/`mtls+` add TLS with the material of
    /// [`ClientSettings::for_uri`], loaded now (a missing or bad file is an
    /// error naming it). `ws+` is the protocol's business.
    pub fn new(uri: &SocketUri) -> Result<Connector, UriError> {
        let err = |reason: String| UriError::new(uri.to_string(), reason);
        let c = Connector::to(uri.address.clone()).map_err(err)?;
        if !uri.prefixes.tls() {
            return Ok(c);
        }
        let tls = ClientSettings::for_uri(uri).and_then(TlsClient::new).map_err(err)?;
        Ok(c.with_tls(tls))
    }

    /// A connector for `address`; the error says why it cannot be connected to.
    pub fn to(address: Address) -> Result<Connector, String> {
        match &address {
            Address::Systemd(_) => Err("sd: sockets are for servers only (socket activation)".into()),
            Address::Tcp { port: 0, .. } => Err("cannot connect to port 0".into()),
            _ => Ok(Connector { address, tls: None }),
        }
    }

    /// A connector for the unix socket file `path`.
    pub fn unix(path: impl Into<std::path::PathBuf>) -> Connector {
        Connector {
            address: Address::Unix(path.into()),
            tls: None,
        }
    }

    /// This connector with a TLS handshake after connecting.
    pub fn with_tls(mut self, tls: Arc<TlsClient>) -> Connector {
        self.tls = Some(tls);
        self
    }

    /// Where it connects.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Its TLS client, if it makes TLS connections.
    pub fn tls(&self) -> Option<&Arc<TlsClient>> {
        self.tls.as_ref()
    }

    /// Connects: TCP (`*` is 127.0.0.1; each address of a name in turn;
    /// TCP_NODELAY), unix socket file or abstract name, character device;
    /// then the TLS handshake, if any (bounded by its timeout).
    pub async fn connect(&self) -> io::Result<Stream> {
        let raw = match &self.address {
            Address::Tcp { host, port } => tcp::connect(host, *port).await.map(Stream::Tcp),
            Address::Unix(path) => unix::connect_path(path).await.map(Stream::Unix),
            Address::Abstract(name) => unix::connect_abstract(name).await.map(Stream::Unix),
            Address::Char(path) => serial::open(path).map(Stream::Char),
            Address::Systemd(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sd: sockets are for servers only",
            )),
        }?;
        match &self.tls {
            Some(tls) => tls.handshake(raw).await,
            None => Ok(raw),
        }
    }
}
