//! What a peer's certificate says of it: subject and alternative names
//! (read with `x509-parser`), and the name check of the common name used
//! when a certificate has no alternative name.

use std::fmt;
use std::net::IpAddr;

use rustls::pki_types::{CertificateDer, ServerName};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Most alternative names kept of one certificate.
const MAX_NAMES: usize = 64;

/// The identity a peer proved with its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerCertificate {
    /// The subject, as RFC 4514 writes it (`CN=client1, O=Example`).
    pub subject: String,
    /// The subject alternative names: `DNS:name`, `IP:address`,
    /// `email:address`, `URI:uri`.
    pub names: Vec<String>,
}

impl PeerCertificate {
    /// Reads the subject and names of a DER certificate (`None` if it is
    /// not one: rustls has checked it, so that does not happen).
    pub fn from_der(der: &[u8]) -> Option<PeerCertificate> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in san.value.general_names.iter().take(MAX_NAMES) {
                names.push(match n {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::IPAddress(b) => match ip_of(b) {
                        Some(ip) => format!("IP:{ip}"),
                        None => continue,
                    },
                    _ => continue,
                });
            }
        }
        Some(PeerCertificate {
            subject: cert.subject().to_string(),
            names,
        })
    }
}

/// `subject` then the names: `CN=client1 (DNS:client1)`.
impl fmt::Display for PeerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject)?;
        if !self.names.is_empty() {
            write!(f, " ({})", self.names.join(", "))?;
        }
        Ok(())
    }
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether `cert`, which has no DNS nor IP alternative name, carries
/// `name` as its common name (case-insensitive).
pub(crate) fn common_name_matches(cert: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return false;
    };
    if let Ok(Some(san)) = c.subject_alternative_name() {
        let has_names = san
            .value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName(_) | GeneralName::IPAddress(_)));
        if has_names {
            return false;
        }
    }
    let wanted = name.to_str();
    let found = c
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|cn| cn.eq_ignore_ascii_case(&wanted));
    found
}
