//! The daemon's options: command line (the C binders' option names),
//! environment (`AFB_*`), and config files (`--config FILE`, JSON or YAML
//! read by [`crate::config`], keys are the long option names, repeatable,
//! merged; unknown keys are errors).
//!
//! Merging: each config file becomes `--KEY=VALUE` arguments placed before
//! the command line's, in the order of the files; then everything is parsed
//! once. A single-valued option given twice keeps its last value (so the
//! command line wins over config files), a repeatable one accumulates.
//! `-e/--exec` takes the rest of the command line (it must be last).

// The field docs are the `--help` texts: their brackets are command-line syntax.
#![allow(rustdoc::broken_intra_doc_links)]

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use serde::Serialize;
use serde_json::{Map, Value};

/// The daemon's options.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "afb-daemon",
    version,
    about = "The application framework binder: serves APIs over HTTP, WebSocket (x-afb-ws-json1) and wsapi",
    args_override_self = true,
    after_help = "Options can also come from config files (--config FILE, JSON with comments for .json/.jso, \
                  else YAML): keys are the long option names. -e/--exec must be the last option: everything after it is the command."
)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    // ---- HTTP ---------------------------------------------------------
    /// HTTP port (listened on 127.0.0.1 and ::1 unless an --interface uses it)
    #[arg(short = 'p', long, default_value_t = 1234, value_name = "N")]
    pub port: u16,

    /// Extra HTTP listener: tcp:HOST:PORT (HOST may be *, [::1]...), unix:PATH (unix:@NAME: abstract), sd:NAME (socket activation)
    #[arg(short = 'i', long = "interface", value_name = "URI", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interface: Vec<String>,

    /// No HTTP server
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub no_httpd: bool,

    /// Serve Prometheus/OpenMetrics metrics at GET /metrics on the HTTP listeners
    #[arg(long, env = "AFB_METRICS")]
    #[serde(skip_serializing_if = "is_false")]
    pub metrics: bool,

    /// Serve GET /metrics on its own listener: tcp:HOST:PORT, unix:PATH, sd:NAME (implies --metrics)
    #[arg(long, value_name = "URI")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_interface: Option<String>,

    /// Static files served at / (default: the built-in web console)
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roothttp: Option<PathBuf>,

    /// API prefix and WebSocket endpoint
    #[arg(long, default_value = "/api", value_name = "URL")]
    pub rootapi: String,

    /// One-page-app prefix (GET /opa/x redirects to /opa/#!x)
    #[arg(long, default_value = "/opa", value_name = "URL")]
    pub rootbase: String,

    /// More static files: /PREFIX:DIR (repeatable)
    #[arg(long, value_name = "/PREFIX:DIR", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alias: Vec<String>,

    /// Cache-Control max-age of static files, in seconds
    #[arg(long, default_value_t = 100_000, value_name = "S")]
    pub cache_eol: u64,

    /// Largest request body (JSON, urlencoded, multipart text field), in bytes; bigger gets 413
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub http_max_body: u64,

    /// Largest multipart (upload) body, in bytes; bigger gets 413
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_name = "BYTES")]
    pub http_max_upload: u64,

    /// Largest request head (request line and headers), in bytes (at least 8192); bigger gets 431
    #[arg(long, default_value_t = 32 * 1024, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(8192..))]
    pub http_max_header: u32,

    /// Longest request target (path and query), in bytes; longer gets 414
    #[arg(long, default_value_t = 8 * 1024, value_name = "BYTES")]
    pub http_max_url: u32,

    /// Seconds running requests get to finish on SIGTERM/SIGINT before they are cancelled
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub shutdown_grace: f64,

    // ---- TLS (docs/tls.md) -------------------------------------------------
    /// Serve HTTPS instead of HTTP on every --port and --interface listener
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub https: bool,

    /// HTTPS certificate (PEM or DER; default: AFB_HTTPS_CERT, --tls-cert, $AFB_HTTPS_PREFIX/cert.pem)
    #[arg(long, value_name = "FILE", env = "AFB_HTTPS_CERT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_cert: Option<PathBuf>,

    /// HTTPS private key (default: AFB_HTTPS_KEY, --tls-key, $AFB_HTTPS_PREFIX/key.pem)
    #[arg(long, value_name = "FILE", env = "AFB_HTTPS_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_key: Option<PathBuf>,

    /// HTTPS client certificates: none, optional (asked, checked against --tls-trust when shown) or required
    #[arg(long, default_value = "none", value_name = "MODE", value_parser = ["none", "optional", "required"])]
    pub https_client_auth: String,

    /// Certificate of tls+/mtls+ links (and of HTTPS without --https-cert)
    #[arg(long, value_name = "FILE", env = "AFB_TLS_CERT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert
    #[arg(long, value_name = "FILE", env = "AFB_TLS_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Trusted certificates: a file or a directory of PEM files, repeatable, plus AFB_TLS_TRUST (default: the system store)
    #[arg(long, value_name = "PATH", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_trust: Vec<PathBuf>,

    /// Seconds a TLS handshake may take before the connection is dropped
    #[arg(long, default_value_t = 10, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub tls_handshake_timeout: u64,

    // ---- directories ----------------------------------------------------
    /// Working directory (created if missing)
    #[arg(short = 'w', long, default_value = ".", value_name = "DIR")]
    pub workdir: PathBuf,

    /// Where uploaded files are stored (default: the working directory)
    #[arg(short = 'u', long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaddir: Option<PathBuf>,

    /// The application's root directory (default: the working directory)
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootdir: Option<PathBuf>,

    // ---- APIs ---------------------------------------------------------
    /// Load a binding (shared object, binding ABI v1 to v4), repeatable
    #[arg(short = 'b', long, value_name = "PATH", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binding: Vec<String>,

    /// Load every binding (*.so) under these :-separated directories, recursively
    #[arg(long, value_name = "DIRS", env = "AFB_LDPATHS", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ldpaths: Vec<String>,

    /// Same as --ldpaths, errors only logged
    #[arg(long, value_name = "DIRS", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weak_ldpaths: Vec<String>,

    /// Run all the C bindings (--binding, --ldpaths, --weak-ldpaths) together in one child binder, restarted when it dies, their APIs imported over wsapi
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub isolate_bindings: bool,

    /// Import an API over wsapi (unix:PATH/API, tcp:HOST:PORT/API), repeatable
    #[arg(long, value_name = "URI", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_client: Vec<String>,

    /// Export a local API over wsapi (unix:PATH/API, tcp:HOST:PORT/API, sd:NAME/API), repeatable
    #[arg(long, value_name = "URI", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_server: Vec<String>,

    /// Import APIs over RPC v3 ([public:|private:][ws+]unix:PATH/API, tcp:HOST:PORT/API, ?import=LIST&export=LIST), repeatable; a bad URI or an absent server is only logged
    #[arg(long, value_name = "URI", action = ArgAction::Append, allow_hyphen_values = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rpc_client: Vec<String>,

    /// Export APIs over RPC v3 ([ws+]unix:PATH/API, tcp:HOST:PORT/API, sd:NAME, ?export=LIST&import=LIST), repeatable; a failure stops the start-up
    #[arg(long, value_name = "URI", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rpc_server: Vec<String>,

    /// Join the Zenoh network with Zenoh's default configuration (peer mode); implied by the other --zenoh-* options (needs the `zenoh` build feature)
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub zenoh: bool,

    /// Zenoh JSON5 configuration file (mode, router endpoints, TLS, access control), as Zenoh documents it
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zenoh_config: Option<PathBuf>,

    /// Zenoh endpoint to connect to (e.g. tcp/192.0.2.1:7447, tls/host:7447), repeatable
    #[arg(long, value_name = "ENDPOINT", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zenoh_connect: Vec<String>,

    /// Zenoh endpoint to listen on (e.g. tcp/0.0.0.0:7447), repeatable
    #[arg(long, value_name = "ENDPOINT", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zenoh_listen: Vec<String>,

    /// First chunks of every Zenoh key of the binder (binders see each other only in the same namespace)
    #[arg(long, default_value = "afb", value_name = "NAME")]
    pub zenoh_namespace: String,

    /// Export a local API over Zenoh, repeatable; * exports every public API
    #[arg(long, value_name = "API", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zenoh_export: Vec<String>,

    /// Import an API served by other binders over Zenoh (LOCAL@API: under another name), repeatable; * imports every API that appears and is not local
    #[arg(long, value_name = "API", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zenoh_import: Vec<String>,

    /// On an unknown API X, import it from unix:DIR/X, repeatable
    #[arg(short = 'A', long, value_name = "DIR", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auto_api: Vec<PathBuf>,

    /// Serve the sample APIs (hello, tictactoe, auth) beside the others (they are served when no API is given)
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub samples: bool,

    // ---- requests and sessions ------------------------------------------
    /// Per-request timeout in seconds (0: none)
    #[arg(long, default_value_t = 20, value_name = "S")]
    pub apitimeout: u64,

    /// Session idle timeout in seconds
    #[arg(long, default_value_t = 32_000_000, value_name = "S")]
    pub cntxtimeout: u64,

    /// Maximum number of sessions (the least recently used idle one is evicted beyond)
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub session_max: u64,

    /// Initial token of new sessions (without it, token checks accept any token)
    #[arg(short = 't', long, value_name = "TOKEN", conflicts_with = "random_token")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,

    /// Use a random initial token
    #[arg(short = 'r', long)]
    #[serde(skip_serializing_if = "is_false")]
    pub random_token: bool,

    /// Settings for APIs: [API]/[KEY]:JSON or '{"API":{...}}' (API * or empty: all APIs), repeatable
    #[arg(short = 's', long, value_name = "SETTING", env = "AFB_SET", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,

    /// Call API/VERB:JSON at start-up, in order; an error stops the daemon
    #[arg(long, value_name = "API/VERB:JSON", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub call: Vec<String>,

    /// Maximum number of requests in progress (beyond: not-available)
    #[arg(short = 'j', long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_max: Option<usize>,

    /// Number of worker threads (default: one per CPU)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads_max: Option<u64>,

    /// Largest WebSocket and wsapi message, in bytes
    #[arg(long, default_value_t = 1_048_500, value_name = "N")]
    pub ws_maxlen: usize,

    // ---- resource limits (see docs/SECURITY.md) -------------------------
    /// Deepest nesting of arrays and objects in a request's JSON argument (1..=127); deeper gets invalid-request
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=127))]
    pub json_max_depth: u64,

    /// Calls in progress per WebSocket connection; beyond: not-available
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_max_inflight: u64,

    /// Outgoing messages queued per WebSocket connection; a client that lets it fill up is disconnected
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_send_queue: u64,

    /// Events one WebSocket connection or wsapi link may be subscribed to at once
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub subscriptions_max: u64,

    /// Live events one API may create
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub events_max: u64,

    /// Calls one --ws-server link runs at once (1..=4095); beyond: not-available
    #[arg(long, default_value_t = 4095, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4095))]
    pub wsapi_max_inflight: u64,

    /// Bytes queued for sending per wsapi link; a peer that lets it fill up is disconnected
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub wsapi_send_queue: u64,

    /// Seconds a call through --ws-client/--auto-api waits for the remote binder (0: no limit; default: --apitimeout)
    #[arg(long, value_name = "S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wsapi_timeout: Option<u64>,

    /// --ws-server peers allowed: unix-socket peers running as one of these uids (TCP peers are then refused), repeatable or comma-separated
    #[arg(long, value_name = "UID", value_delimiter = ',', action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wsapi_allow: Vec<u32>,

    /// Permissions of the --ws-server unix socket files, in octal (e.g. 0660; default: from the umask)
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_server_mode: Option<String>,

    /// Origin of web pages (e.g. http://localhost:8080) allowed to call APIs besides the daemon's own pages; * for any, repeatable
    #[arg(long, value_name = "ORIGIN", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origin: Vec<String>,

    /// Permission backend answering the permissions of verbs' access rules: deny-all (default), grant-all (development only), policy:FILE (JSON or YAML rules, reloaded on SIGHUP), api:API[/VERB] (asks a verb of the binder, VERB defaults to check), cynagora[:SOCKET] (redpesk's policy service; default $CYNAGORA_SOCKET_CHECK, else /var/run/cynagora/cynagora.check)
    #[arg(long, value_name = "BACKEND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,

    /// Access rule added to verbs of any binding: API/VERB=RULE (globs; RULE in the JSON form of docs/access-control.md, "#NAME" for a rule named under "acls" in a config file), repeatable; all the matching rules must hold, besides the verb's own
    #[arg(long, value_name = "API/VERB=RULE", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<String>,

    // ---- logging ------------------------------------------------------
    /// More verbose (repeatable)
    #[arg(short = 'v', long, action = ArgAction::Count)]
    #[serde(skip_serializing_if = "is_zero")]
    pub verbose: u8,

    /// Less verbose (repeatable)
    #[arg(short = 'q', long, action = ArgAction::Count)]
    #[serde(skip_serializing_if = "is_zero")]
    pub quiet: u8,

    /// Log level: LEVEL, +LEVEL (at least), -LEVEL (below), comma-separated (error, warning, notice, info, debug)
    #[arg(short = 'l', long, value_name = "SPEC", action = ArgAction::Append)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,

    /// Coloured log
    #[arg(short = 'c', long)]
    #[serde(skip_serializing_if = "is_false")]
    pub color: bool,

    /// Trace requests (accepted; not implemented yet)
    #[arg(long, value_name = "FLAGS", env = "AFB_TRACEREQ")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracereq: Option<String>,

    /// Trace events (accepted; not implemented yet)
    #[arg(long, value_name = "FLAGS", env = "AFB_TRACEEVT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceevt: Option<String>,

    /// Trace sessions (accepted; not implemented yet)
    #[arg(long, value_name = "FLAGS", env = "AFB_TRACESES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceses: Option<String>,

    /// Trace APIs (accepted; not implemented yet)
    #[arg(long, value_name = "FLAGS", env = "AFB_TRACEAPI")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceapi: Option<String>,

    /// Trace globals (accepted; not implemented yet)
    #[arg(long, value_name = "FLAGS", env = "AFB_TRACEGLOB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceglob: Option<String>,

    /// Process name in logs
    #[arg(short = 'n', long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Redirect stdout and stderr to FILE (appended)
    #[arg(short = 'o', long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,

    // ---- process ------------------------------------------------------
    /// Stay in the foreground (the default)
    #[arg(long, conflicts_with = "daemon")]
    #[serde(skip_serializing_if = "is_false")]
    pub foreground: bool,

    /// Run in the background
    #[arg(short = 'D', long)]
    #[serde(skip_serializing_if = "is_false")]
    pub daemon: bool,

    /// Read options from a config file (.json/.jso: JSON with comments, else YAML; keys: long option names; $ref includes, ${VAR} expansion), repeatable
    #[arg(long, value_name = "FILE", action = ArgAction::Append)]
    #[serde(skip)]
    pub config: Vec<PathBuf>,

    /// Print the merged configuration as JSON and exit
    #[arg(short = 'Z', long)]
    #[serde(skip)]
    pub dump_config: bool,

    /// Print the effective configuration (every option, defaults included) as JSON and exit
    #[arg(short = 'z', long)]
    #[serde(skip)]
    pub dump_final_config: bool,

    /// Run PROG ARGS... once started (@p: port, @t: token, @@: @); the daemon exits when it exits, with its code. Must be last.
    #[arg(short = 'e', long, value_name = "PROG ARGS", num_args = 1.., allow_hyphen_values = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
}

/// Validates an octal file mode (`0660`, `660`, `0o660`); kept as text so
/// that `--dump-config` writes it back as given.
fn parse_mode(s: &str) -> Result<String, String> {
    mode_bits(s).map(|_| s.to_owned())
}

/// The bits of an octal file mode accepted by `--ws-server-mode`.
pub(crate) fn mode_bits(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(format!("{s:?} is not an octal file mode such as 0660")),
    }
}

fn is_false(b: &bool) -> bool {
    !b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// Why the options could not be loaded.
#[derive(Debug)]
pub enum OptionsError {
    /// A command-line error, `--help` or `--version` (clap prints it).
    Clap(clap::Error),
    /// A config file error.
    Config(ConfigError),
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::Clap(e) => e.fmt(f),
            OptionsError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OptionsError {}

/// Why a config file (`--config FILE`) was refused; each names the file.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not JSON.
    NotJson {
        /// The file.
        file: String,
        /// Why.
        error: serde_json::Error,
    },
    /// The file is not a JSON object.
    NotObject {
        /// The file.
        file: String,
    },
    /// The file has a `config` key (files cannot include files).
    Include {
        /// The file.
        file: String,
    },
    /// A key that is no long option name.
    UnknownKey {
        /// The file.
        file: String,
        /// The key.
        key: String,
    },
    /// A config file that does not read, parse, include or expand (the
    /// reason names the file and, when known, the line).
    File {
        /// Why.
        reason: String,
    },
    /// A value of the wrong kind for its key.
    BadValue {
        /// The file.
        file: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, error } => write!(f, "--config {file}: {error}"),
            ConfigError::NotJson { file, error } => write!(f, "{file}: not JSON: {error}"),
            ConfigError::NotObject { file } => {
                write!(f, "{file}: expected a JSON object whose keys are long option names")
            }
            ConfigError::Include { file } => write!(
                f,
                "{file}: key \"config\": config files cannot include other config files"
            ),
            ConfigError::UnknownKey { file, key } => write!(
                f,
                "{file}: unknown key {key:?} (keys are the long option names, see --help)"
            ),
            ConfigError::BadValue { file, key, reason } => write!(f, "{file}: key {key:?}: {reason}"),
            ConfigError::File { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Splits `argv` (without the program name) at the first `-e`/`--exec`:
/// the options before it, and the command after it.
pub(crate) fn split_exec(args: &[OsString]) -> (Vec<OsString>, Vec<OsString>) {
    for (i, a) in args.iter().enumerate() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "-e" || s == "--exec" {
            return (args[..i].to_vec(), args[i + 1..].to_vec());
        }
        if let Some(prog) = s.strip_prefix("--exec=") {
            let mut cmd = vec![OsString::from(prog)];
            cmd.extend_from_slice(&args[i + 1..]);
            return (args[..i].to_vec(), cmd);
        }
    }
    (args.to_vec(), Vec::new())
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, OptionsError> {
    let matches = Options::command()
        .try_get_matches_from(args)
        .map_err(OptionsError::Clap)?;
    Options::from_arg_matches(&matches).map_err(OptionsError::Clap)
}

/// The long names a config file may use.
pub(crate) fn config_keys() -> Vec<String> {
    Options::command()
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !matches!(*l, "help" | "version" | "config"))
        .map(str::to_owned)
        .collect()
}

fn bad_value(file: &str, key: &str, reason: String) -> ConfigError {
    ConfigError::BadValue {
        file: file.to_owned(),
        key: key.to_owned(),
        reason,
    }
}

fn scalar(key: &str, v: &Value, file: &str) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Object(_) if key == "set" => Ok(v.to_string()),
        other => Err(bad_value(file, key, format!("unexpected value {other}"))),
    }
}

/// Turns one config file's JSON text into `--KEY=VALUE` arguments.
pub(crate) fn config_to_args(text: &str, file: &str) -> Result<(Vec<OsString>, Vec<OsString>), ConfigError> {
    let v: Value = serde_json::from_str(text).map_err(|error| ConfigError::NotJson {
        file: file.to_owned(),
        error,
    })?;
    let Value::Object(obj) = v else {
        return Err(ConfigError::NotObject { file: file.to_owned() });
    };
    object_to_args(obj, file)
}

/// Turns one config file's object into `--KEY=VALUE` arguments.
pub(crate) fn object_to_args(
    obj: Map<String, Value>,
    file: &str,
) -> Result<(Vec<OsString>, Vec<OsString>), ConfigError> {
    let keys = config_keys();
    let mut out = Vec::new();
    let mut exec = Vec::new();
    for (key, value) in obj {
        if key == "config" {
            return Err(ConfigError::Include { file: file.to_owned() });
        }
        if !keys.contains(&key) {
            return Err(ConfigError::UnknownKey {
                file: file.to_owned(),
                key,
            });
        }
        if key == "exec" {
            match value {
                Value::Array(a) => {
                    for x in a {
                        exec.push(OsString::from(scalar(&key, &x, file)?));
                    }
                }
                other => exec.push(OsString::from(scalar(&key, &other, file)?)),
            }
            continue;
        }
        let flag = Options::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .map(|a| matches!(a.get_action(), ArgAction::SetTrue | ArgAction::Count))
            .unwrap_or(false);
        let items = match value {
            Value::Array(a) => a,
            other => vec![other],
        };
        for item in items {
            match (&item, flag) {
                (Value::Bool(true), true) => out.push(OsString::from(format!("--{key}"))),
                (Value::Bool(false), true) | (Value::Null, _) => {}
                (Value::Number(n), true) => {
                    let times = n
                        .as_u64()
                        .ok_or_else(|| bad_value(file, &key, "expected a count".into()))?;
                    for _ in 0..times.min(16) {
                        out.push(OsString::from(format!("--{key}")));
                    }
                }
                (_, true) => return Err(bad_value(file, &key, "expected true or false".into())),
                (_, false) => out.push(OsString::from(format!("--{key}={}", scalar(&key, &item, file)?))),
            }
        }
    }
    Ok((out, exec))
}

/// Loads the options from the command line (`args` without the program
/// name) and the config files it names (JSON with comments or YAML,
/// includes and variables: see [`crate::config`]).
pub fn load(args: &[OsString]) -> Result<Options, OptionsError> {
    let keys = config_keys();
    let env = |v: &str| std::env::var(v).ok();
    let acls = std::cell::RefCell::new(Map::new());
    let mut opts = load_files(args, |file| {
        let name = file.display().to_string();
        let obj = crate::config::load(file, &keys, &env, &mut acls.borrow_mut())
            .map_err(|reason| ConfigError::File { reason })?;
        object_to_args(obj, &name)
    })?;
    resolve_auth(&mut opts, &acls.borrow())?;
    Ok(opts)
}

/// Checks the `--auth` rules and writes them in one form (`API/VERB=`
/// then the rule's JSON, `#names` of the config files' `acls` replaced by
/// their rules), so that a config file and the same command line give
/// the same `-z` output.
fn resolve_auth(opts: &mut Options, acls: &Map<String, Value>) -> Result<(), OptionsError> {
    let bad = |reason: String| {
        OptionsError::Config(ConfigError::BadValue {
            file: "--auth".into(),
            key: "auth".into(),
            reason,
        })
    };
    let named = afb_core::access::parse_named(acls).map_err(|e| bad(format!("acls: {e}")))?;
    for text in &mut opts.auth {
        let r = afb_core::access::parse_verb_rule(text, &named).map_err(|e| bad(e.0))?;
        *text = format!("{}/{}={}", r.api, r.verb, r.rule.to_json());
    }
    Ok(())
}

/// The `--auth` rules of resolved options (see [`resolve_auth`]).
pub fn verb_rules(opts: &Options) -> Result<Vec<afb_core::access::VerbRule>, String> {
    let none = afb_core::access::NamedRules::new();
    opts.auth
        .iter()
        .map(|t| afb_core::access::parse_verb_rule(t, &none).map_err(|e| format!("--auth {t}: {}", e.0)))
        .collect()
}

/// [`load`] reading config files (plain JSON) through `read` (no other
/// side effect: tests and fuzzing give the files' text).
pub fn load_with(
    args: &[OsString],
    read: impl Fn(&std::path::Path) -> std::io::Result<String>,
) -> Result<Options, OptionsError> {
    let mut opts = load_files(args, |file| {
        let name = file.display().to_string();
        let text = read(file).map_err(|error| ConfigError::Read {
            file: name.clone(),
            error,
        })?;
        config_to_args(&text, &name)
    })?;
    resolve_auth(&mut opts, &Map::new())?;
    Ok(opts)
}

type FileArgs = (Vec<OsString>, Vec<OsString>);

fn load_files(
    args: &[OsString],
    file_args: impl Fn(&std::path::Path) -> Result<FileArgs, ConfigError>,
) -> Result<Options, OptionsError> {
    let prog = || OsString::from("afb-daemon");
    let (front, cli_exec) = split_exec(args);
    let first = parse(std::iter::once(prog()).chain(front.iter().cloned()))?;
    let mut merged = vec![prog()];
    let mut exec = Vec::new();
    for file in &first.config {
        let (a, e) = file_args(file).map_err(OptionsError::Config)?;
        merged.extend(a);
        if !e.is_empty() {
            exec = e;
        }
    }
    merged.extend(front);
    let mut opts = parse(merged)?;
    if !cli_exec.is_empty() {
        exec = cli_exec;
    }
    if !exec.is_empty() {
        opts.exec = exec.into_iter().map(|s| s.to_string_lossy().into_owned()).collect();
    }
    Ok(opts)
}

impl Options {
    /// The merged configuration as a JSON object (keys: long option names),
    /// which `--config` accepts back.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// The effective configuration: [`Options::to_json`] with every other
    /// option at its default (`false`, `0`, `[]` or `null`).
    pub fn to_final_json(&self) -> Value {
        let mut v = self.to_json();
        if let Value::Object(m) = &mut v {
            for a in Options::command().get_arguments() {
                let Some(long) = a.get_long() else { continue };
                if matches!(
                    long,
                    "help" | "version" | "config" | "dump-config" | "dump-final-config"
                ) || m.contains_key(long)
                {
                    continue;
                }
                let default = match a.get_action() {
                    ArgAction::SetTrue => Value::Bool(false),
                    ArgAction::Count => Value::from(0),
                    ArgAction::Append => Value::Array(Vec::new()),
                    _ => Value::Null,
                };
                m.insert(long.to_owned(), default);
            }
        }
        v
    }

    /// Whether an option provides APIs (then the samples are not served
    /// unless `--samples`).
    pub fn provides_apis(&self) -> bool {
        !(self.binding.is_empty()
            && self.ldpaths.is_empty()
            && self.weak_ldpaths.is_empty()
            && self.ws_client.is_empty()
            && self.rpc_client.is_empty()
            && self.auto_api.is_empty()
            && self.zenoh_import.is_empty())
    }

    /// Whether the binder joins a Zenoh network.
    pub fn uses_zenoh(&self) -> bool {
        self.zenoh
            || self.zenoh_config.is_some()
            || !self.zenoh_connect.is_empty()
            || !self.zenoh_listen.is_empty()
            || !self.zenoh_export.is_empty()
            || !self.zenoh_import.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn tmp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("afb-options-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_are_those_of_the_spec() {
        let o = load(&[]).unwrap();
        assert_eq!(o.port, 1234);
        assert_eq!(o.rootapi, "/api");
        assert_eq!(o.rootbase, "/opa");
        assert_eq!(o.cache_eol, 100_000);
        assert_eq!(o.apitimeout, 20);
        assert_eq!(o.cntxtimeout, 32_000_000);
        assert_eq!(o.session_max, 200);
        assert_eq!(o.ws_maxlen, 1_048_500);
        assert_eq!(o.http_max_body, 10 * 1024 * 1024);
        assert!(!o.provides_apis());
    }

    #[test]
    fn exec_takes_the_rest_of_the_command_line() {
        let (front, cmd) = split_exec(&os(&["-v", "--exec", "sh", "-c", "echo @p", "-v"]));
        assert_eq!(front, os(&["-v"]));
        assert_eq!(cmd, os(&["sh", "-c", "echo @p", "-v"]));
        let o = load(&os(&["-p", "7", "-e", "prog", "--port", "9"])).unwrap();
        assert_eq!(o.port, 7);
        assert_eq!(o.exec, vec!["prog", "--port", "9"]);
        let (_, cmd) = split_exec(&os(&["--exec=prog", "a"]));
        assert_eq!(cmd, os(&["prog", "a"]));
    }

    #[test]
    fn config_files_merge_and_the_command_line_wins() {
        let a = tmp(
            "a.json",
            r#"{"port": 8000, "alias": ["/a:/tmp"], "no-httpd": true, "verbose": 2, "set": {"hello": {"x": 1}}}"#,
        );
        let b = tmp("b.json", r#"{"alias": "/b:/tmp", "exec": ["prog", "arg"]}"#);
        let args = vec![
            OsString::from("--config"),
            a.clone().into_os_string(),
            OsString::from("--config"),
            b.clone().into_os_string(),
            OsString::from("--port=9000"),
            OsString::from("-v"),
        ];
        let o = load(&args).unwrap();
        assert_eq!(o.port, 9000, "command line wins");
        assert_eq!(o.alias, vec!["/a:/tmp", "/b:/tmp"], "repeatable options accumulate");
        assert!(o.no_httpd);
        assert_eq!(o.verbose, 3);
        assert_eq!(o.set, vec![r#"{"hello":{"x":1}}"#]);
        assert_eq!(o.exec, vec!["prog", "arg"]);
        std::fs::remove_file(a).unwrap();
        std::fs::remove_file(b).unwrap();
    }

    #[test]
    fn unknown_config_key_is_an_error_naming_it() {
        let f = tmp("bad.json", r#"{"port": 1, "no-htttpd": true}"#);
        let err = load(&[OsString::from("--config"), f.clone().into_os_string()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no-htttpd"), "{msg}");
        assert!(msg.contains("unknown key"), "{msg}");
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn config_value_errors_are_clear() {
        let err = |text: &str| config_to_args(text, "f").unwrap_err().to_string();
        assert_eq!(err("[1]"), "f: expected a JSON object whose keys are long option names");
        assert!(err("{").starts_with("f: not JSON: "));
        assert_eq!(
            err(r#"{"no-httpd": "yes"}"#),
            "f: key \"no-httpd\": expected true or false"
        );
        assert_eq!(err(r#"{"verbose": -1}"#), "f: key \"verbose\": expected a count");
        assert_eq!(err(r#"{"port": [true]}"#), "f: key \"port\": unexpected value true");
        assert_eq!(
            err(r#"{"config": "x"}"#),
            "f: key \"config\": config files cannot include other config files"
        );
        assert_eq!(
            err(r#"{"help": true}"#),
            "f: unknown key \"help\" (keys are the long option names, see --help)"
        );
    }

    #[test]
    fn dump_config_round_trips_through_config() {
        let o = load(&os(&[
            "-p",
            "4321",
            "--alias",
            "/x:/tmp",
            "-vv",
            "--set",
            "hello/k:1",
            "-e",
            "a",
            "b",
        ]))
        .unwrap();
        let dumped = o.to_json();
        assert_eq!(dumped["port"], 4321);
        assert_eq!(dumped["verbose"], 2);
        let f = tmp("dump.json", &dumped.to_string());
        let back = load(&[OsString::from("--config"), f.clone().into_os_string()]).unwrap();
        assert_eq!(back.to_json(), dumped);
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn limit_options_defaults_ranges_and_config_keys() {
        let o = load(&[]).unwrap();
        assert_eq!(
            (
                o.json_max_depth,
                o.ws_max_inflight,
                o.ws_send_queue,
                o.subscriptions_max
            ),
            (64, 4096, 1024, 4096)
        );
        assert_eq!(
            (o.events_max, o.wsapi_max_inflight, o.wsapi_send_queue),
            (4096, 4095, 16 << 20)
        );
        assert_eq!((o.wsapi_timeout, o.ws_server_mode.as_deref()), (None, None));
        assert!(o.wsapi_allow.is_empty() && o.allowed_origin.is_empty());
        assert!(
            load(&os(&["--json-max-depth", "128"])).is_err(),
            "beyond serde_json's own limit"
        );
        assert!(
            load(&os(&["--wsapi-max-inflight", "4096"])).is_err(),
            "beyond the protocol's bound"
        );
        assert!(load(&os(&["--ws-server-mode", "0999"])).is_err());
        assert!(load(&os(&["--ws-server-mode", "rw"])).is_err());
        assert_eq!(mode_bits("0660"), Ok(0o660));
        assert_eq!(mode_bits("0o600"), Ok(0o600));
        let f = tmp(
            "limits.json",
            r#"{"json-max-depth": 8, "wsapi-allow": [0, 1000], "ws-server-mode": "0600",
                "allowed-origin": ["http://a:1", "http://b:2"], "wsapi-timeout": 3, "events-max": 7}"#,
        );
        let o = load(&[
            OsString::from("--config"),
            f.clone().into_os_string(),
            OsString::from("--wsapi-allow=5,6"),
        ])
        .unwrap();
        assert_eq!(o.json_max_depth, 8);
        assert_eq!(o.wsapi_allow, vec![0, 1000, 5, 6]);
        assert_eq!(o.ws_server_mode.as_deref(), Some("0600"));
        assert_eq!(o.allowed_origin, vec!["http://a:1", "http://b:2"]);
        assert_eq!((o.wsapi_timeout, o.events_max), (Some(3), 7));
        let dumped = o.to_json();
        let g = tmp("limits-dump.json", &dumped.to_string());
        let back = load(&[OsString::from("--config"), g.clone().into_os_string()]).unwrap();
        assert_eq!(back.to_json(), dumped);
        std::fs::remove_file(f).unwrap();
        std::fs::remove_file(g).unwrap();
    }

    #[test]
    fn rpc_options_repeat_and_come_from_config_files() {
        let o = load_with(
            &os(&[
                "--config",
                "rpc.json",
                "--rpc-client",
                "-unix:/x/b",
                "--rpc-server=tcp:*:9/c",
            ]),
            |_| Ok(r#"{"rpc-client": ["unix:/x/a?import=a@", "ws+tcp:h:1/a"], "rpc-server": "unix:@s"}"#.to_owned()),
        )
        .unwrap();
        assert_eq!(o.rpc_client, ["unix:/x/a?import=a@", "ws+tcp:h:1/a", "-unix:/x/b"]);
        assert_eq!(o.rpc_server, ["unix:@s", "tcp:*:9/c"]);
        assert!(o.provides_apis(), "imports are APIs: no samples by default");
        let back = o.to_json();
        assert_eq!(back["rpc-client"][2], "-unix:/x/b");
    }

    #[test]
    fn load_with_reads_config_text_without_files() {
        let o = load_with(&os(&["--config", "virtual.json", "-p", "9"]), |p| {
            assert_eq!(p, std::path::Path::new("virtual.json"));
            Ok(r#"{"port": 1, "session-max": 3}"#.to_owned())
        })
        .unwrap();
        assert_eq!((o.port, o.session_max), (9, 3));
        let e = load_with(&os(&["--config", "x"]), |_| Err(std::io::Error::other("gone"))).unwrap_err();
        assert!(e.to_string().contains("gone"));
    }

    #[test]
    fn unknown_option_and_token_conflict_are_errors() {
        assert!(load(&os(&["--no-such-option"])).is_err());
        assert!(load(&os(&["-t", "x", "-r"])).is_err());
        assert!(
            load(&os(&["--http-max-header", "100"])).is_err(),
            "below hyper's minimum"
        );
    }
}
