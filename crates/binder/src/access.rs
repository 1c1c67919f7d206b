//! The permission backend chosen by `--permissions` (deny-all by
//! default, grant-all, a policy file, a verb of the binder, or Cynagora), installed
//! in the registry at start, and the policy file's reload on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use afb_core::access::{ApiBackend, DenyAll, GrantAll, Policy, PolicyBackend};
use afb_core::Registry;

/// A Cynagora socket given as `PATH` or `unix:PATH` (its own notation).
fn socket_path(p: &str) -> PathBuf {
    PathBuf::from(p.strip_prefix("unix:").unwrap_or(p))
}

/// What SIGHUP reloads.
pub(crate) enum Installed {
    /// Nothing to reload.
    Fixed,
    /// A policy file.
    Policy {
        /// The file.
        path: PathBuf,
        /// The backend its rules go to.
        backend: Arc<PolicyBackend>,
    },
}

/// Largest policy file read.
const MAX_POLICY: u64 = 4 << 20;

/// Reads a policy file: JSON when it ends in `.json` or `.jso`, else YAML.
pub(crate) fn read_policy(path: &Path) -> Result<Policy, String> {
    let name = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| format!("policy file {name}: {e}"))?
        .len();
    if len > MAX_POLICY {
        return Err(format!("policy file {name}: larger than {MAX_POLICY} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("policy file {name}: {e}"))?;
    let json = matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "jso"));
    let value: serde_json::Value = if json {
        serde_json::from_str(&text).map_err(|e| format!("policy file {name}: {e}"))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| format!("policy file {name}: {e}"))?
    };
    Policy::from_value(value).map_err(|e| format!("policy file {name}: {e}"))
}

/// Checks the `--permissions` value without side effect.
pub(crate) fn validate(spec: &str) -> Result<(), String> {
    match spec.split_once(':') {
        None if matches!(spec, "deny-all" | "grant-all") => Ok(()),
        Some(("policy", f)) if !f.is_empty() => Ok(()),
        Some(("api", a)) if !a.is_empty() && !a.ends_with('/') => Ok(()),
        None if spec == "cynagora" => Ok(()),
        Some(("cynagora", p)) if !p.is_empty() => Ok(()),
        _ => Err(format!(
            "--permissions {spec:?}: expected deny-all, grant-all, policy:FILE, api:API[/VERB] or cynagora[:SOCKET]"
        )),
    }
}

/// Installs the backend `spec` names (`None`: deny-all) and says which in
/// the log. A policy file that cannot be read is an error.
pub(crate) fn install(registry: &Arc<Registry>, given: Option<&str>) -> Result<Installed, String> {
    let spec = given.unwrap_or("deny-all");
    validate(spec)?;
    let access = registry.access();
    let installed = match spec.split_once(':') {
        Some(("policy", f)) => {
            let path = PathBuf::from(f);
            let backend = Arc::new(PolicyBackend::new(f, read_policy(&path)?));
            access.set_backend(backend.clone());
            Installed::Policy { path, backend }
        }
        Some(("api", a)) => {
            let (api, verb) = a.split_once('/').unwrap_or((a, "check"));
            access.set_backend(Arc::new(ApiBackend::new(registry, api, verb)));
            Installed::Fixed
        }
        Some(("cynagora", p)) => {
            let c = crate::cynagora::Cynagora::new(socket_path(p), crate::cynagora::TIMEOUT);
            access.set_backend(Arc::new(crate::cynagora::CynagoraBackend(Arc::new(c))));
            Installed::Fixed
        }
        None if spec == "cynagora" => {
            let p = std::env::var("CYNAGORA_SOCKET_CHECK").unwrap_or_else(|_| crate::cynagora::DEFAULT_SOCKET.into());
            let c = crate::cynagora::Cynagora::new(socket_path(&p), crate::cynagora::TIMEOUT);
            access.set_backend(Arc::new(crate::cynagora::CynagoraBackend(Arc::new(c))));
            Installed::Fixed
        }
        _ if spec == "grant-all" => {
            access.set_backend(Arc::new(GrantAll));
            Installed::Fixed
        }
        _ => {
            access.set_backend(Arc::new(DenyAll));
            Installed::Fixed
        }
    };
    let what = access.backend().describe();
    if spec == "grant-all" {
        tracing::warn!("permissions: {what}");
    } else if given.is_none() {
        tracing::warn!("no --permissions: {what}");
    } else {
        tracing::info!("permissions: {what}");
    }
    Ok(installed)
}

/// Reloads the policy file (SIGHUP); a file that no longer reads keeps
/// the old policy, and says so.
pub(crate) fn reload(installed: &Installed) {
    if let Installed::Policy { path, backend } = installed {
        match read_policy(path) {
            Ok(p) => {
                let n = p.rules.len();
                backend.replace(p);
                tracing::info!("SIGHUP: policy file {} reloaded ({n} rule(s))", path.display());
            }
            Err(e) => tracing::error!("SIGHUP: {e}; the old policy stays"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        for ok in [
            "deny-all",
            "grant-all",
            "policy:/x.yaml",
            "api:perm",
            "api:perm/ask",
            "cynagora",
            "cynagora:/run/c",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "grant", "policy:", "api:", "api:perm/", "cynagora:", "cyn"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_files() {
        let dir = std::env::temp_dir().join(format!("afb-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let y = dir.join("p.yaml");
        std::fs::write(&y, "rules:\n  - uid: 5\n    permission: 'urn:*'\n    decision: allow\n").unwrap();
        assert_eq!(read_policy(&y).unwrap().rules.len(), 1);
        let j = dir.join("p.json");
        std::fs::write(&j, r#"{"rules":[{"permission":["a","b"],"decision":"deny"}]}"#).unwrap();
        assert_eq!(read_policy(&j).unwrap().rules.len(), 1);
        std::fs::write(&j, r#"{"rules":[{"permission":"a","decision":"deny","oops":1}]}"#).unwrap();
        let e = read_policy(&j).unwrap_err();
        assert!(e.contains("oops") && e.contains("p.json"), "{e}");
        std::fs::write(&y, "rules: [").unwrap();
        assert!(read_policy(&y).unwrap_err().contains("p.yaml"));
        assert!(read_policy(&dir.join("none.yaml")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
