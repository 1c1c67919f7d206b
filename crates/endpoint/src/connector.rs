//! The one connector type: connects to any address a client may name.

use std::io;

use crate::socket::{serial, tcp, unix};
use crate::stream::Stream;
use crate::uri::{Address, SocketUri, UriError};

/// Where a client connects, checked when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    address: Address,
}

impl Connector {
    /// A connector for `uri`. Refused: `sd:` (servers only), TCP port 0,
    /// and TLS prefixes (not supported yet). `ws+` is the protocol's
    /// business.
    pub fn new(uri: &SocketUri) -> Result<Connector, UriError> {
        if uri.prefixes.tls() {
            return Err(UriError::new(uri.to_string(), "tls+ and mtls+ are not supported yet"));
        }
        Connector::to(uri.address.clone()).map_err(|reason| UriError::new(uri.to_string(), reason))
    }

    /// A connector for `address`; the error says why it cannot be connected to.
    pub fn to(address: Address) -> Result<Connector, String> {
        match &address {
            Address::Systemd(_) => Err("sd: sockets are for servers only (socket activation)".into()),
            Address::Tcp { port: 0, .. } => Err("cannot connect to port 0".into()),
            _ => Ok(Connector { address }),
        }
    }

    /// A connector for the unix socket file `path`.
    pub fn unix(path: impl Into<std::path::PathBuf>) -> Connector {
        Connector {
            address: Address::Unix(path.into()),
        }
    }

    /// Where it connects.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Connects: TCP (`*` is 127.0.0.1; each address of a name in turn;
    /// TCP_NODELAY), unix socket file or abstract name, character device.
    pub async fn connect(&self) -> io::Result<Stream> {
        match &self.address {
            Address::Tcp { host, port } => tcp::connect(host, *port).await.map(Stream::Tcp),
            Address::Unix(path) => unix::connect_path(path).await.map(Stream::Unix),
            Address::Abstract(name) => unix::connect_abstract(name).await.map(Stream::Unix),
            Address::Char(path) => serial::open(path).map(Stream::Char),
            Address::Systemd(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sd: sockets are for servers only",
            )),
        }
    }
}
