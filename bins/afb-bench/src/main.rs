//! `afb-bench`: load generator, baselines and benchmark suite of the binder.
//!
//! Load commands (`rest`, `handshakes`, `wsj1`, `wsapi`, `rpc`, `fanout`) hit a running server; `serve-hyper` and
//! `serve-echo` are the baselines; `mem` and `startup` run the daemon themselves; `suite` runs
//! the whole table (see BENCHMARKS.md): every server pinned to one CPU, the load to another,
//! binder and baseline runs interleaved, medians and spreads, ratios against the targets;
//! `soak` runs mixed load on two linked daemons and checks that nothing leaks.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Used by the package's other binary, afb-icount.
use afb_binder as _;
use afb_core as _;
use afb_http as _;
use afb_rpc as _;
use afb_sample_hello as _;

mod load;
mod net;
mod procs;
mod servers;
mod soak;
mod stats;
mod suite;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::Timing;
use crate::stats::LoadResult;

#[derive(Parser)]
#[command(
    name = "afb-bench",
    version,
    about = "Load generator, baselines and benchmark suite of the binder"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// REST load: N keep-alive HTTP/1.1 connections sending GET PATH, one request in flight each.
    Rest {
        #[command(flatten)]
        common: LoadArgs,
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:1234")]
        addr: String,
        /// Request path.
        #[arg(long, default_value = "/api/hello/ping")]
        path: String,
        /// Connections.
        #[arg(long, default_value_t = 32)]
        conns: usize,
        /// Do not send back the session cookie (every request gets a new session).
        #[arg(long)]
        no_cookie: bool,
        /// HTTPS: trust this CA (its certificate file) for the server, named localhost.
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
    },
    /// TLS handshakes: N loops each making a new connection (full handshake), one GET, close.
    Handshakes {
        #[command(flatten)]
        common: LoadArgs,
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:1234")]
        addr: String,
        /// Request path.
        #[arg(long, default_value = "/api/hello/ping")]
        path: String,
        /// Connections made at once.
        #[arg(long, default_value_t = 8)]
        conns: usize,
        /// Trust this CA (its certificate file) for the server, named localhost.
        #[arg(long, value_name = "FILE")]
        cacert: PathBuf,
    },
    /// x-afb-ws-json1 load: N WebSockets x W calls in flight.
    Wsj1 {
        #[command(flatten)]
        common: LoadArgs,
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:1234")]
        addr: String,
        /// WebSocket path (the API root).
        #[arg(long, default_value = "/api")]
        path: String,
        /// Connections.
        #[arg(long, default_value_t = 32)]
        conns: usize,
        /// Calls in flight per connection.
        #[arg(long, default_value_t = 16)]
        inflight: usize,
        /// API/VERB called.
        #[arg(long, default_value = "hello/ping")]
        verb: String,
        /// Argument of the call (JSON).
        #[arg(long, default_value = "null")]
        args: String,
    },
    /// RPC v3 load against an --rpc-server endpoint: N connections x W calls in flight.
    Rpc {
        #[command(flatten)]
        common: LoadArgs,
        /// Endpoint: unix:/path, unix:@name, tcp:HOST:PORT (with or without /API).
        #[arg(long)]
        uri: String,
        /// Connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Calls in flight per connection (at most 4095).
        #[arg(long, default_value_t = 16)]
        inflight: usize,
        /// API/VERB called.
        #[arg(long, default_value = "hello/ping")]
        verb: String,
        /// Argument of the call (JSON).
        #[arg(long, default_value = "null")]
        args: String,
    },
    /// wsapi load against a --ws-server endpoint: N connections x W calls in flight.
    Wsapi {
        #[command(flatten)]
        common: LoadArgs,
        /// Endpoint: unix:/path/API, unix:@name/API, tcp:HOST:PORT/API.
        #[arg(long)]
        uri: String,
        /// Connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Calls in flight per connection (at most 4095).
        #[arg(long, default_value_t = 16)]
        inflight: usize,
        /// Verb called.
        #[arg(long, default_value = "ping")]
        verb: String,
        /// Argument of the call (JSON).
        #[arg(long, default_value = "null")]
        args: String,
    },
    /// Event fan-out: C WebSockets subscribed to one event, one controller pushing on it.
    Fanout {
        #[command(flatten)]
        common: LoadArgs,
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:1234")]
        addr: String,
        /// WebSocket path (the API root).
        #[arg(long, default_value = "/api")]
        path: String,
        /// Subscribed clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Pushes in flight (a push is complete once every client received it).
        #[arg(long, default_value_t = 1)]
        window: usize,
        /// Event tag and name (default: unique per process).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Baseline: raw hyper HTTP/1.1 server answering the bytes of the hello/ping reply
    /// (HTTPS with --cert and --key).
    ServeHyper {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 1234)]
        port: u16,
        /// Runtime worker threads (1: current-thread runtime).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// TLS certificate (PEM).
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// TLS key (PEM).
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
    },
    /// Baseline: raw tokio-tungstenite WebSocket server echoing each text message.
    ServeEcho {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 1234)]
        port: u16,
        /// Flush once per batch of buffered messages instead of once per message.
        #[arg(long)]
        batch: bool,
        /// Runtime worker threads (1: current-thread runtime).
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Memory: idle RSS of the daemon, then with S sessions and W idle WebSockets.
    Mem {
        #[command(flatten)]
        daemon: DaemonArgs,
        /// Sessions to create (cookie-less REST requests); --session-max is the larger of this and --websockets.
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Idle WebSockets to open.
        #[arg(long, default_value_t = 1_000)]
        websockets: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start-up: time from exec of the daemon to its port accepting connections.
    Startup {
        #[command(flatten)]
        daemon: DaemonArgs,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The whole table: every scenario, binder against baseline, interleaved runs.
    Suite(suite::SuiteArgs),
    /// Mixed load (REST, wsj1, wsapi, events, uploads) on two linked daemons for a chosen
    /// time, then a leak check: memory and file descriptors back to their baseline.
    Soak(soak::SoakArgs),
}

/// Options shared by the load commands.
#[derive(Args, Clone)]
struct LoadArgs {
    /// Warm-up seconds (load applied, not measured).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Pin the load generator to this CPU (re-executes under taskset).
    #[arg(long)]
    cpu: Option<usize>,
    /// Also report the CPU share of these server processes.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// How to run the daemon (commands that start it themselves).
#[derive(Args, Clone)]
pub struct DaemonArgs {
    /// The daemon binary.
    #[arg(long, default_value = "target/release/afb-daemon")]
    pub daemon: PathBuf,
    /// Extra argument for the daemon (repeatable).
    #[arg(long = "daemon-arg", allow_hyphen_values = true)]
    pub daemon_args: Vec<String>,
    /// CPU the daemon is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
}

impl LoadArgs {
    fn timing(&self) -> Result<Timing, String> {
        Ok(Timing {
            warmup: secs(self.warmup)?,
            duration: secs(self.duration)?,
        })
    }
}

/// A duration from seconds given on the command line.
pub fn secs(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("bad duration {s}"))
}

/// Resolves `addr`; only loopback addresses are accepted (this tool floods its target).
pub fn loopback_addr(addr: &str) -> Result<SocketAddr, String> {
    let a = addr
        .to_socket_addrs()
        .map_err(|e| format!("address {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {addr:?} resolves to nothing"))?;
    if !a.ip().is_loopback() {
        return Err(format!(
            "{a} is not a loopback address: afb-bench only loads local servers"
        ));
    }
    Ok(a)
}

/// A TLS client of a server named `localhost` whose CA is `cacert`; `resume`: abbreviated
/// handshakes on reconnection (else every handshake is a full one).
pub fn tls_client(
    cacert: &std::path::Path,
    resume: bool,
) -> Result<std::sync::Arc<afb_endpoint::tls::TlsClient>, String> {
    let mut s = afb_endpoint::tls::ClientSettings::new("the benchmarked server", Some("localhost".into()));
    s.trust = vec![cacert.to_path_buf()];
    s.alpn = vec![b"http/1.1".to_vec()];
    s.resumption = resume;
    afb_endpoint::tls::TlsClient::new(s)
}

fn report(r: &LoadResult, json: bool) {
    if json {
        println!("{}", r.to_json());
    } else {
        println!("{}", r.line());
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("afb-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let pin = |c: &LoadArgs| {
        if let Some(cpu) = c.cpu {
            procs::pin_self(cpu);
        }
    };
    match cli.cmd {
        Cmd::Rest {
            common,
            addr,
            path,
            conns,
            no_cookie,
            cacert,
        } => {
            pin(&common);
            let opts = load::RestOpts {
                addr: loopback_addr(&addr)?,
                path,
                conns,
                cookie: !no_cookie,
                tls: cacert.map(|c| tls_client(&c, true)).transpose()?,
                afb_status: false,
            };
            report(&load::rest(opts, common.timing()?, &common.server_pids)?, common.json);
        }
        Cmd::Handshakes {
            common,
            addr,
            path,
            conns,
            cacert,
        } => {
            pin(&common);
            let opts = load::HandshakeOpts {
                addr: loopback_addr(&addr)?,
                path,
                conns,
                tls: tls_client(&cacert, false)?,
            };
            report(
                &load::handshakes(opts, common.timing()?, &common.server_pids)?,
                common.json,
            );
        }
        Cmd::Wsj1 {
            common,
            addr,
            path,
            conns,
            inflight,
            verb,
            args,
        } => {
            pin(&common);
            let opts = load::Wsj1Opts {
                addr: loopback_addr(&addr)?,
                path,
                conns,
                inflight,
                api_verb: verb,
                args,
            };
            report(&load::wsj1(opts, common.timing()?, &common.server_pids)?, common.json);
        }
        Cmd::Wsapi {
            common,
            uri,
            conns,
            inflight,
            verb,
            args,
        } => {
            pin(&common);
            let addr = net::wsapi_endpoint(&uri)?;
            if let afb_endpoint::Address::Tcp { host, port } = addr.address() {
                loopback_addr(&format!("{host}:{port}"))?;
            }
            let opts = load::WsapiOpts {
                addr,
                conns,
                inflight,
                verb,
                args,
            };
            report(&load::wsapi(opts, common.timing()?, &common.server_pids)?, common.json);
        }
        Cmd::Rpc {
            common,
            uri,
            conns,
            inflight,
            verb,
            args,
        } => {
            pin(&common);
            let addr = net::wsapi_endpoint(&uri)?;
            if let afb_endpoint::Address::Tcp { host, port } = addr.address() {
                loopback_addr(&format!("{host}:{port}"))?;
            }
            let (api, verb) = verb
                .split_once('/')
                .ok_or_else(|| format!("--verb {verb:?} is not API/VERB"))?;
            let opts = load::RpcOpts {
                addr,
                conns,
                inflight,
                api: api.into(),
                verb: verb.into(),
                args,
            };
            report(&load::rpc(opts, common.timing()?, &common.server_pids)?, common.json);
        }
        Cmd::Fanout {
            common,
            addr,
            path,
            clients,
            window,
            tag,
        } => {
            pin(&common);
            let opts = load::FanoutOpts {
                addr: loopback_addr(&addr)?,
                path,
                clients,
                window,
                tag: tag.unwrap_or_else(|| format!("fan{}", std::process::id())),
            };
            report(&load::fanout(opts, common.timing()?, &common.server_pids)?, common.json);
        }
        Cmd::ServeHyper {
            port,
            workers,
            cert,
            key,
        } => servers::serve_hyper(port, workers, cert.as_deref().zip(key.as_deref()))?,
        Cmd::ServeEcho { port, workers, batch } => servers::serve_echo(port, workers, batch)?,
        Cmd::Mem {
            daemon,
            sessions,
            websockets,
            json,
        } => {
            let m = suite::measure_mem(&daemon, sessions, websockets)?;
            if json {
                println!("{}", m.to_json());
            } else {
                println!("{}", m.line());
            }
        }
        Cmd::Startup { daemon, runs, json } => {
            let s = suite::measure_startup(&daemon, runs)?;
            if json {
                println!("{}", s.to_json());
            } else {
                println!("{}", s.line());
            }
        }
        Cmd::Suite(args) => return suite::run_suite(args),
        Cmd::Soak(args) => return soak::run_soak(args),
    }
    Ok(ExitCode::SUCCESS)
}
