//! The daemon's assembly: command line and config files ([`options`]),
//! logging ([`logging`]), the `monitor` API ([`monitor`]), listeners
//! ([`listen`]), TLS and HTTPS ([`tls`]), start-up, signals, systemd notification and `--exec`
//! ([`daemon`], [`exec`]). `bins/afb-daemon` only calls [`main`].

pub mod bindings;
pub mod daemon;
pub mod exec;
pub mod listen;
pub mod logging;
pub mod monitor;
pub mod options;
pub mod process;
mod sys;
pub mod tls;

use std::ffi::OsString;
use std::process::ExitCode;

use options::{Options, OptionsError};

fn exit(code: i32) -> ExitCode {
    ExitCode::from((code & 0xff) as u8)
}

/// Runs the daemon with the process's arguments; returns its exit code.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    exit(run(&args))
}

/// Runs the daemon with `args` (without the program name).
pub fn run(args: &[OsString]) -> i32 {
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
    if opts.dump_config {
        match serde_json::to_string_pretty(&opts.to_json()) {
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
    if !opts.provides_apis() {
        tracing::warn!(
            "no API given (--binding, --ldpaths, --weak-ldpaths, --ws-client, --auto-api): serving the built-in sample APIs {}",
            daemon::SAMPLES
        );
    }
    let threads = opts.threads_max;
    let prepared = match daemon::prepare(opts, level) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    // One worker (asked, or one CPU available): a current-thread runtime
    // does the same work without cross-thread wake-ups.
    let workers = threads
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut rt = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
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
    let code = match rt.block_on(daemon::run(prepared, source)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    };
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
