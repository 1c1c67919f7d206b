//! The command line, compatible with AGL's `afb-client-demo` and redpesk's `afb-client`:
//! `afb-client [options] URI [API VERB [ARGS]]` and `afb-client -d [options] URI [VERB [ARGS]]`.

// The field docs are the `--help` texts: their brackets are command-line syntax.
#![allow(rustdoc::broken_intra_doc_links)]

use clap::{ArgAction, Parser};

/// Exit codes (the C clients' values).
pub mod exit {
    /// Everything went fine (or the last reply was a success).
    pub const SUCCESS: i32 = 0;
    /// The last reply was an error.
    pub const ERROR: i32 = 1;
    /// The server closed the connection.
    pub const HANGUP: i32 = 2;
    /// Reading the requests failed.
    pub const INPUT: i32 = 3;
    /// Bad options or arguments.
    pub const BAD_ARG: i32 = 4;
    /// The connection could not be made.
    pub const CONNECT: i32 = 5;
}

/// The default and smallest `--ws-maxlen`.
pub const DEFAULT_WS_MAXLEN: usize = afb_wsapi_codec::frame::DEFAULT_MAX_MESSAGE_SIZE;
const MIN_WS_MAXLEN: usize = 16384;

/// Command-line client of the application framework binder.
///
/// Calls verbs over x-afb-ws-json1 (a WebSocket on the binder's HTTP port), with -d over
/// wsapi (the socket of a binder's --ws-server), or with --rpc over RPC v3 (the socket of a
/// --rpc-server, or the HTTP port upgraded to x-afb-rpc). Without API VERB on the command line, reads
/// one request per line from stdin (API VERB ARGS, or VERB ARGS with -d; '#' starts a
/// comment; '! EVENT DATA' sends an event). Exit codes: 0 ok, 1 the last reply was an error,
/// 2 the server hung up, 3 input failure, 4 bad argument, 5 cannot connect.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "afb-client",
    version,
    disable_version_flag = true,
    after_help = "Examples:\n  afb-client -H ws://localhost:1234/api hello ping '{\"key\":[1,2]}'\n  \
                  echo 'hello ping null' | afb-client localhost:1234/api\n  \
                  afb-client -d unix:/run/afb/hello ping true\n  \
                  afb-client --cacert ca.pem wss://host:1234/api hello ping"
)]
pub struct Opts {
    /// Human-readable output: ON-REPLY/ON-EVENT lines and indented JSON
    #[arg(short = 'H', long, overrides_with = "raw")]
    pub human: bool,

    /// Raw output, one JSON line per reply or event (the default)
    #[arg(short = 'r', long, overrides_with = "human")]
    pub raw: bool,

    /// Direct wsapi connection: URI is unix:/PATH/API, unix:@NAME/API or tcp:HOST:PORT/API (tls+ or mtls+ before them for TLS)
    #[arg(short = 'd', long, conflicts_with = "rpc")]
    pub direct: bool,

    /// RPC v3 connection (redpesk's binder-to-binder protocol): URI is a socket of a
    /// --rpc-server (unix:PATH, unix:@NAME, tcp:HOST:PORT, ws+...) or the HTTP API root
    /// (http://HOST:PORT/api, upgraded to x-afb-rpc); requests are API VERB ARGS
    #[arg(long)]
    pub rpc: bool,

    /// Exit (status 0) right after the first request has been sent
    #[arg(short = 'b', long = "break")]
    pub break_: bool,

    /// Echo the requests before sending them (SEND-CALL ...)
    #[arg(short = 'e', long)]
    pub echo: bool,

    /// Keep running after the input ended and the replies came, to watch events
    #[arg(short = 'k', long)]
    pub keep_running: bool,

    /// Synchronous: wait for each reply before sending the next request (like -p 1)
    #[arg(short = 's', long)]
    pub sync: bool,

    /// Allow at most COUNT requests in flight
    #[arg(short = 'p', long, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub pipe: Option<u32>,

    /// Do not print the informative ON-... lines
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// The token to use (x-afb-token in the WebSocket URL; declared with T over wsapi)
    #[arg(short = 't', long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// The session uuid to use (x-afb-uuid in the WebSocket URL; declared with S over wsapi)
    #[arg(short = 'u', long, value_name = "UUID")]
    pub uuid: Option<String>,

    /// Maximum size of a received message, in bytes
    #[arg(short = 'w', long = "ws-maxlen", value_name = "BYTES", default_value_t = DEFAULT_WS_MAXLEN,
          value_parser = parse_maxlen)]
    pub ws_maxlen: usize,

    /// TLS: trusted certificates (a file, or a directory of PEM files; repeatable) to check
    /// the server of wss://, https:// and tls+/mtls+ URIs (default: the system store)
    #[arg(long, value_name = "PATH", action = ArgAction::Append)]
    pub cacert: Vec<std::path::PathBuf>,

    /// TLS: certificate shown when the server asks (mtls+, HTTPS with client certificates)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<std::path::PathBuf>,

    /// TLS: private key of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<std::path::PathBuf>,

    /// Print the version and exit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    pub version: Option<bool>,

    /// URI [API VERB [ARGS]] (or URI [VERB [ARGS]] with -d); ARGS '-' reads them from stdin
    #[arg(value_name = "URI", required = true, num_args = 1.., trailing_var_arg = true)]
    pub args: Vec<String>,
}

fn parse_maxlen(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("{s:?} is not a byte count"))?;
    if n < MIN_WS_MAXLEN {
        return Err(format!("at least {MIN_WS_MAXLEN}"));
    }
    Ok(n)
}

/// The positional arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to connect.
    pub uri: String,
    /// The request of the command line: `(api, verb, args)`; `api` is empty with `-d`.
    /// `None`: read the requests from stdin.
    pub request: Option<(String, String, Option<String>)>,
}

impl Opts {
    /// Splits the positional arguments into the URI and the optional request, checking their
    /// count; the error is the message to print.
    pub fn target(&self) -> Result<Target, String> {
        let mut args = self.args.iter().cloned();
        let uri = args.next().ok_or("missing URI")?;
        let rest: Vec<String> = args.collect();
        let request = match (self.direct, rest.len()) {
            (_, 0) => None,
            (true, 1) => Some((String::new(), rest[0].clone(), None)),
            (true, 2) => Some((String::new(), rest[0].clone(), Some(rest[1].clone()))),
            (false, 1) => return Err("missing verb (usage: URI API VERB [ARGS])".into()),
            (false, 2) => Some((rest[0].clone(), rest[1].clone(), None)),
            (false, 3) => Some((rest[0].clone(), rest[1].clone(), Some(rest[2].clone()))),
            _ => return Err("extra arguments (clue: check the quoting of the last argument)".into()),
        };
        Ok(Target { uri, request })
    }

    /// How many requests may be in flight (`-s`, `-p N`), `None` for no limit.
    pub fn window(&self) -> Option<usize> {
        match (self.sync, self.pipe) {
            (true, _) => Some(1),
            (false, Some(n)) => usize::try_from(n).ok(),
            (false, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, clap::Error> {
        Opts::try_parse_from(std::iter::once("afb-client").chain(args.iter().copied()))
    }

    #[test]
    fn c_client_command_lines() {
        let o = parse(&["-H", "localhost:1234/api", "hello", "ping", "{\"a\":1}"]).unwrap();
        assert!(o.human && !o.direct);
        let t = o.target().unwrap();
        assert_eq!(t.uri, "localhost:1234/api");
        assert_eq!(
            t.request,
            Some(("hello".into(), "ping".into(), Some("{\"a\":1}".into())))
        );

        let o = parse(&["-dHe", "unix:/tmp/s/hello", "ping"]).unwrap();
        assert!(o.direct && o.human && o.echo);
        assert_eq!(o.target().unwrap().request, Some(("".into(), "ping".into(), None)));

        let o = parse(&["--pipe", "3", "--keep-running", "--sync", "ws://h:1/api"]).unwrap();
        assert_eq!((o.pipe, o.keep_running), (Some(3), true));
        assert_eq!(o.window(), Some(1));
        assert_eq!(o.target().unwrap().request, None);

        let o = parse(&["-p", "5", "-u", "U", "-t", "T", "h:1/api", "hello", "ping", "-"]).unwrap();
        assert_eq!(
            (o.window(), o.uuid.as_deref(), o.token.as_deref()),
            (Some(5), Some("U"), Some("T"))
        );
        assert_eq!(o.target().unwrap().request.unwrap().2.as_deref(), Some("-"));

        // Once the URI is seen, everything is positional (as the C clients): -5 is ARGS.
        let o = parse(&["h:1/api", "hello", "ping", "-5"]).unwrap();
        assert_eq!(o.target().unwrap().request.unwrap().2.as_deref(), Some("-5"));

        // Last of -H / -r wins.
        assert!(!parse(&["-H", "-r", "h:1/api"]).unwrap().human);
        assert!(parse(&["-r", "-H", "h:1/api"]).unwrap().human);
        assert_eq!(parse(&["-b", "h:1/api"]).unwrap().window(), None);

        let o = parse(&["--cacert", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "wss://h/api"]).unwrap();
        assert_eq!(o.cacert, [std::path::PathBuf::from("ca.pem")]);
        assert_eq!((o.cert.unwrap(), o.key.unwrap()), ("c.pem".into(), "k.pem".into()));
        assert!(parse(&["--cert", "c.pem", "h:1/api"]).is_err(), "--cert needs --key");
    }

    #[test]
    fn bad_command_lines() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["-p", "0", "h:1/api"]).is_err());
        assert!(parse(&["-p", "x", "h:1/api"]).is_err());
        assert!(parse(&["-x", "h:1/api"]).is_err());
        assert!(parse(&["-w", "10", "h:1/api"]).is_err());
        assert!(parse(&["h:1/api", "hello"]).unwrap().target().is_err());
        assert!(parse(&["h:1/api", "hello", "ping", "1", "2"])
            .unwrap()
            .target()
            .is_err());
        assert!(parse(&["-d", "unix:/x/y", "ping", "1", "2"]).unwrap().target().is_err());
    }
}
