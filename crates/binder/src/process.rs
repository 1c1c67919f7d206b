//! `-D/--daemon` and `-o/--output FILE`, done without `fork`: the daemon
//! runs itself again, detached (its own process group, no terminal input)
//! or with stdout and stderr sent to the file (by `exec`, keeping its pid).
//! A variable marks the second run so that it does not do it again.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::options::Options;

/// Set in the environment of the second run.
pub const REEXEC_MARK: &str = "AFB_DAEMON_REEXEC";

/// Detaches or redirects when asked; returns `Some(exit code)` when this
/// process must exit now (the parent of a detached daemon, or a failure),
/// `None` when it goes on serving.
pub fn detach_or_redirect(opts: &Options, args: &[OsString]) -> Option<i32> {
    if std::env::var_os(REEXEC_MARK).is_some() || (!opts.daemon && opts.output.is_none()) {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("<3> ERROR: cannot find the daemon's executable: {e}");
            return Some(1);
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args(args).env(REEXEC_MARK, "1");
    let out = match &opts.output {
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("<3> ERROR: --output {}: {e}", path.display());
                return Some(1);
            }
        },
        None => None,
    };
    if let Some(f) = &out {
        match f.try_clone() {
            Ok(f2) => {
                cmd.stdout(Stdio::from(f2));
            }
            Err(e) => {
                eprintln!("<3> ERROR: --output: {e}");
                return Some(1);
            }
        }
    }
    if opts.daemon {
        cmd.stdin(Stdio::null()).process_group(0);
        match out {
            Some(f) => cmd.stderr(Stdio::from(f)),
            None => cmd.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        return match cmd.spawn() {
            Ok(_) => Some(0),
            Err(e) => {
                eprintln!("<3> ERROR: cannot start the daemon in the background: {e}");
                Some(1)
            }
        };
    }
    if let Some(f) = out {
        cmd.stderr(Stdio::from(f));
    }
    // Only returns on failure.
    let e = cmd.exec();
    eprintln!("<3> ERROR: --output: cannot restart with the output redirected: {e}");
    Some(1)
}
