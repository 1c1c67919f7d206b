//! Test certificates, made at test time with `rcgen`: a test CA and the
//! certificates it issues (server for `localhost`/`127.0.0.1`/`::1`, a
//! client, an expired one, one for another host), and a second, untrusted
//! CA. Files are PEM, in a temporary directory removed on drop.

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};

use crate::TempDir;

/// A certificate and its key, written as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// The certificate in DER.
    pub der: Vec<u8>,
    /// base64 of the SHA-256 of the public key (SubjectPublicKeyInfo), as
    /// Chromium's `--ignore-certificate-errors-spki-list` takes it.
    pub spki_sha256: String,
}

/// A certificate authority for tests.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM), to trust.
    pub cert: PathBuf,
    dir: PathBuf,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl TestCa {
    /// A CA named `name`; its certificate is `DIR/NAME.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationName, "afb-rs tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        let path = dir.join(format!("{name}.pem"));
        write(&path, &cert.pem());
        TestCa {
            issuer: Issuer::new(params, key),
            cert: path,
            dir: dir.to_path_buf(),
        }
    }

    /// Issues `DIR/FILE.pem` and `DIR/FILE.key` for the common name `cn`
    /// and the alternative names `names` (host names or IP addresses), for
    /// servers and clients; `expired`: valid in 2020 only.
    pub fn issue(&self, file: &str, cn: &str, names: &[&str], expired: bool) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.distinguished_name.push(DnType::OrganizationName, "afb-rs tests");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("issue");
        let (cert_path, key_path) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        write(&cert_path, &cert.pem());
        write(&key_path, &key.serialize_pem());
        let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        Issued {
            cert: cert_path,
            key: key_path,
            der: cert.der().to_vec(),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
        }
    }
}

/// The usual set of test certificates.
pub struct TestPki {
    /// The trusted test CA.
    pub ca: TestCa,
    /// Another CA, trusted by nobody.
    pub other_ca: TestCa,
    /// Server: CN `localhost`, names `localhost`, `127.0.0.1`, `::1`.
    pub server: Issued,
    /// A second server certificate with the same names (reload tests).
    pub server2: Issued,
    /// Client: CN and DNS name `client1`.
    pub client: Issued,
    /// Expired (2020), names `localhost`, `127.0.0.1`.
    pub expired: Issued,
    /// For another host: `other.example` only.
    pub other_host: Issued,
    /// Names `localhost`, `127.0.0.1`, issued by `other_ca`.
    pub untrusted: Issued,
    dir: TempDir,
}

impl TestPki {
    /// Makes every certificate in a new temporary directory.
    pub fn new(tag: &str) -> TestPki {
        let dir = TempDir::new(&format!("pki-{tag}"));
        let ca = TestCa::new(dir.path(), "test-ca");
        let other_ca = TestCa::new(dir.path(), "other-ca");
        let local = ["localhost", "127.0.0.1", "::1"];
        TestPki {
            server: ca.issue("server", "localhost", &local, false),
            server2: ca.issue("server2", "localhost", &local, false),
            client: ca.issue("client", "client1", &["client1"], false),
            expired: ca.issue("expired", "localhost", &local, true),
            other_host: ca.issue("other-host", "other.example", &["other.example"], false),
            untrusted: other_ca.issue("untrusted", "localhost", &local, false),
            ca,
            other_ca,
            dir,
        }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
