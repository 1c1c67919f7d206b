//! The daemon's assembly: command line and config files ([`options`]),
//! logging ([`logging`]), the `monitor` API, listeners ([`listen`]),
//! TLS and HTTPS ([`tls`]), start-up, signals, systemd notification and `--exec` ([`daemon`]).
//! `bins/afb-daemon` only calls [`main`], with the sample APIs it links
//! ([`Samples`]).
//!
//! Public for the daemon binary and the fuzz targets: [`main`], [`run`],
//! [`options`], and the parsers of `--set`, `--call`, `--interface` and
//! `--log`.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub(crate) mod access;
pub(crate) mod bindings;
pub mod catalogue;
mod clock;
pub mod config;
pub(crate) mod cynagora;
pub mod daemon;
pub(crate) mod exec;
pub mod listen;
pub mod logging;
pub mod metrics;
pub(crate) mod monitor;
pub mod options;
pub(crate) mod process;
pub(crate) mod rpc;
mod samples;
// The one module of the daemon with unsafe code (socket activation, fatal signals, the
// time-stamp counter).
#[allow(unsafe_code)]
mod sys;
pub mod tls;
pub mod trace;
pub(crate) mod zenoh;

use std::ffi::OsString;
use std::process::ExitCode;

use options::{Options, OptionsError};
pub use samples::Samples;

fn exit(code: i32) -> ExitCode {
    ExitCode::from((code & 0xff) as u8)
}

/// Runs the daemon with the process's arguments and the sample APIs the
/// binary brings; returns its exit code.
pub fn main(samples: Samples) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    exit(run(&args, samples))
}

/// Runs the daemon with `args` (without the program name).
pub fn run(args: &[OsString], samples: Samples) -> i32 {
    let opts: Options = match options::load(args) {
        Ok(o) => o,
        Err(OptionsError::Clap(e)) => {
            let _ = e.print();
            return e.exit_code();
        }
        Err(OptionsError::Config(msg)) => {
            eprintln!("<3> ERROR: {msg}");
            return 2;
        }
    };
    if opts.dump_config || opts.dump_final_config {
        let v = if opts.dump_final_config {
            opts.to_final_json()
        } else {
            opts.to_json()
        };
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("<3> ERROR: --dump-config: {e}");
                return 1;
            }
        }
        return 0;
    }
    if let Some(code) = process::detach_or_redirect(&opts, args) {
        return code;
    }
    let level = match logging::level_from(&opts.log, opts.verbose, opts.quiet) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("<3> ERROR: {e}");
            return 2;
        }
    };
    let source = logging::init(level, opts.name.as_deref(), opts.color);
    // A crash in a C binding must not take the daemon down silently.
    sys::install_fatal_signal_handler();
    let no_api = "no API given (--binding, --ldpaths, --weak-ldpaths, --ws-client, --auto-api)";
    if !opts.provides_apis() && samples.is_empty() {
        tracing::warn!("{no_api}: this daemon has no sample APIs, only monitor is served");
    } else if !opts.provides_apis() {
        tracing::warn!("{no_api}: serving the built-in sample APIs {}", samples.names());
    } else if opts.samples && samples.is_empty() {
        tracing::warn!("--samples: this daemon was built without the sample APIs");
    }
    let samples = if opts.samples || !opts.provides_apis() {
        samples
    } else {
        Samples::new()
    };
    let threads = opts.threads_max;
    // Zenoh blocks in place (at shutdown) and refuses a current-thread runtime.
    let zenoh = opts.uses_zenoh();
    let prepared = match daemon::prepare(opts, level) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    // One worker (asked, or one CPU available): a current-thread runtime
    // does the same work without cross-thread wake-ups (but Zenoh needs a
    // multi-thread one, of one worker then).
    let workers = threads
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut rt = if workers <= 1 && !zenoh {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers.max(1));
        b
    };
    rt.enable_all();
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let code = match rt.block_on(daemon::run(prepared, source, samples)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    };
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
