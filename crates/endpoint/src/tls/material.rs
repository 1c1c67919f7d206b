//! Reading certificates, keys and trust from files: PEM (a file that
//! starts with `-`, or holds a `-----BEGIN` line after some text), else
//! DER; a trust path is a file or a directory of PEM files; no trust at
//! all is the system store.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// Largest file read (a system bundle is a few hundred KiB).
const MAX_FILE: u64 = 16 << 20;

/// Most files read from one trust directory.
const MAX_DIR_FILES: usize = 10_000;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot read the {what} {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(&format_args!("larger than {MAX_FILE} bytes")));
    }
    Ok(bytes)
}

/// Whether `bytes` are PEM text.
fn is_pem(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'-') || bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn certs_of(bytes: Vec<u8>, path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if !is_pem(&bytes) {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM in the {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate in the {what} {} (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A certificate chain (the end certificate first).
pub(crate) fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    certs_of(read(path, "certificate")?, path, "certificate")
}

/// A private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path, "key")?;
    if is_pem(&bytes) {
        return PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            format!(
                "no usable private key in {} (PEM PKCS#8, RSA or EC key expected): {e}",
                path.display()
            )
        });
    }
    PrivateKeyDer::try_from(bytes).map_err(|e| format!("no usable private key in {} (DER): {e}", path.display()))
}

/// Adds the certificates of a trust file or of the PEM files of a trust
/// directory; returns how many were added.
fn add_trust(roots: &mut RootCertStore, path: &Path) -> Result<usize, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the trust {}: {e}", path.display()))?;
    if !meta.is_dir() {
        let certs = certs_of(read(path, "trust file")?, path, "trust file")?;
        let n = certs.len();
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("bad certificate in the trust file {}: {e}", path.display()))?;
        }
        return Ok(n);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read the trust directory {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .take(MAX_DIR_FILES)
        .collect();
    files.sort();
    let mut added = 0;
    for f in files {
        // Other files (hash links to the same certificates, keys, notes)
        // may sit in such a directory: what does not parse is skipped.
        let Ok(bytes) = read(&f, "trust file") else { continue };
        if !is_pem(&bytes) {
            continue;
        }
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
        added += roots.add_parsable_certificates(certs).0;
    }
    if added == 0 {
        return Err(format!(
            "no certificate in the PEM files of the trust directory {}",
            path.display()
        ));
    }
    Ok(added)
}

/// The trust anchors of `paths`, or the system store when there is none.
pub(crate) fn load_trust(paths: &[PathBuf]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if paths.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "it is empty".to_owned(), |e| e.to_string());
            return Err(format!(
                "no trust given (--tls-trust, trust=) and no certificate in the system trust store: {why}"
            ));
        }
        return Ok(roots);
    }
    for p in paths {
        add_trust(&mut roots, p)?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_or_der() {
        assert!(is_pem(b"-----BEGIN CERTIFICATE-----\n"));
        assert!(is_pem(b"Bag Attributes\n-----BEGIN CERTIFICATE-----\n"));
        assert!(!is_pem(&[0x30, 0x82, 0x01, 0x0a]));
        assert!(!is_pem(b""));
    }

    #[test]
    fn errors_name_the_file() {
        let e = load_chain(Path::new("/nonexistent/afb/cert.pem")).unwrap_err();
        assert!(
            e.contains("/nonexistent/afb/cert.pem") && e.contains("certificate"),
            "{e}"
        );
        let e = load_key(Path::new("/nonexistent/afb/key.pem")).unwrap_err();
        assert!(e.contains("/nonexistent/afb/key.pem"), "{e}");
        let e = load_trust(&[PathBuf::from("/nonexistent/afb/ca.pem")]).unwrap_err();
        assert!(e.contains("/nonexistent/afb/ca.pem"), "{e}");
    }
}
