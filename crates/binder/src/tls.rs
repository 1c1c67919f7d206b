//! TLS of the daemon (docs/tls.md): the process-wide material of the
//! `tls+`/`mtls+` links (`--tls-cert`, `--tls-key`, `--tls-trust`, the
//! `AFB_TLS_*` variables), the HTTPS server (`--https`, `--https-cert`,
//! `--https-key`, `--https-client-auth`) and the reload on SIGHUP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use afb_endpoint::tls::{self, ClientAuth, ServerSettings, TlsDefaults, TlsServer};

use crate::options::Options;

/// Where HTTPS files are looked for last (`$AFB_HTTPS_PREFIX`).
pub const HTTPS_PREFIX: &str = "/etc/afb/.https";

/// `--tls-trust` values, then `AFB_TLS_TRUST` (trusts add up).
fn trust(o: &Options) -> Vec<PathBuf> {
    let mut t = o.tls_trust.clone();
    if let Some(env) = std::env::var_os("AFB_TLS_TRUST").filter(|v| !v.is_empty()) {
        t.push(PathBuf::from(env));
    }
    t
}

/// Sets the process-wide material of `tls+`/`mtls+` links. Relative paths
/// are relative to the working directory (`--workdir`).
pub fn set_defaults(o: &Options) {
    tls::set_defaults(TlsDefaults {
        cert: o.tls_cert.clone(),
        key: o.tls_key.clone(),
        trust: trust(o),
        handshake_timeout: Duration::from_secs(o.tls_handshake_timeout),
    });
}

/// The HTTPS certificate and key: `--https-cert`/`--https-key` (or
/// `AFB_HTTPS_CERT`/`AFB_HTTPS_KEY`), else `--tls-cert`/`--tls-key`, else
/// `$AFB_HTTPS_PREFIX/cert.pem` and `key.pem`.
pub fn https_files(o: &Options) -> (PathBuf, PathBuf) {
    let prefix = std::env::var_os("AFB_HTTPS_PREFIX")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(HTTPS_PREFIX), PathBuf::from);
    let cert = o
        .https_cert
        .clone()
        .or_else(|| o.tls_cert.clone())
        .unwrap_or_else(|| prefix.join("cert.pem"));
    let key = o
        .https_key
        .clone()
        .or_else(|| o.tls_key.clone())
        .unwrap_or_else(|| prefix.join("key.pem"));
    (cert, key)
}

/// The HTTPS server of `--https` (`None` without it), offering `alpn`.
/// A missing or bad file is an error naming it.
pub fn https_server(o: &Options, alpn: Vec<Vec<u8>>) -> Result<Option<Arc<TlsServer>>, String> {
    if !o.https {
        return Ok(None);
    }
    let (cert, key) = https_files(o);
    let client_auth = match o.https_client_auth.as_str() {
        "optional" => ClientAuth::Optional,
        "required" => ClientAuth::Required,
        _ => ClientAuth::None,
    };
    TlsServer::new(ServerSettings {
        cert,
        key,
        trust: trust(o),
        client_auth,
        client_name: None,
        alpn,
        what: "--https".into(),
        handshake_timeout: Duration::from_secs(o.tls_handshake_timeout),
    })
    .map(Some)
}

/// Reloads every TLS certificate, key and trust (SIGHUP); logs what
/// happened to each. A failure keeps the old material.
pub fn reload() {
    let all = tls::reload_all();
    if all.is_empty() {
        tracing::info!("SIGHUP: no TLS material to reload");
    }
    for r in all {
        match r.result {
            Ok(()) => tracing::info!("SIGHUP: TLS material of {} reloaded", r.what),
            Err(e) => tracing::warn!(
                "SIGHUP: TLS material of {} not reloaded, the old one stays: {e}",
                r.what
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_files_fall_back_in_order() {
        let load = |args: &[&str]| {
            let v: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            crate::options::load(&v).unwrap()
        };
        // The environment of the test process has no AFB_HTTPS_* (the
        // defaults below would show it).
        if std::env::var_os("AFB_HTTPS_CERT").is_some() || std::env::var_os("AFB_TLS_CERT").is_some() {
            return;
        }
        let o = load(&["--https-cert", "h.pem", "--https-key", "h.key", "--tls-cert", "t.pem"]);
        assert_eq!(https_files(&o), ("h.pem".into(), "h.key".into()));
        let o = load(&["--tls-cert", "t.pem", "--tls-key", "t.key"]);
        assert_eq!(https_files(&o), ("t.pem".into(), "t.key".into()));
        if std::env::var_os("AFB_HTTPS_PREFIX").is_none() {
            let o = load(&[]);
            assert_eq!(
                https_files(&o),
                (
                    PathBuf::from("/etc/afb/.https/cert.pem"),
                    PathBuf::from("/etc/afb/.https/key.pem")
                )
            );
        }
        let o = load(&[
            "--https",
            "--https-client-auth",
            "required",
            "--tls-trust",
            "a",
            "--tls-trust",
            "b",
        ]);
        assert!(o.https);
        assert_eq!(o.https_client_auth, "required");
        assert_eq!(o.tls_trust, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(crate::options::load(&["--https-client-auth".into(), "maybe".into()]).is_err());
    }
}
