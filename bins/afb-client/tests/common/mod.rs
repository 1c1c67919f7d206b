//! Runs the real `afb-client` binary in tests: arguments, stdin, a time limit, and its exit
//! code, stdout and stderr.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a client may run before the test fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// What a finished client did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// What the client reads on stdin.
pub enum In<'a> {
    /// This text, then end of file.
    Text(&'a str),
    /// A file (or directory) opened for reading.
    File(std::fs::File),
    /// Nothing (`/dev/null`).
    Null,
}

/// A running client whose output is collected in the background.
pub struct Running {
    child: Child,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

fn collect(
    mut r: impl Read + Send + 'static,
    seen: Option<std::sync::Arc<std::sync::Mutex<String>>>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if let Some(seen) = &seen {
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        *s = String::from_utf8_lossy(&all).into_owned();
                    }
                }
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    })
}

/// Starts `afb-client ARGS` with `input` on stdin.
pub fn spawn(args: &[&str], input: In<'_>) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_afb-client"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    // No history file of the tester's is touched.
    cmd.env("HOME", std::env::temp_dir());
    let text = match input {
        In::Text(t) => {
            cmd.stdin(Stdio::piped());
            Some(t.to_owned())
        }
        In::File(f) => {
            cmd.stdin(Stdio::from(f));
            None
        }
        In::Null => {
            cmd.stdin(Stdio::null());
            None
        }
    };
    let mut child = cmd.spawn().expect("spawn afb-client");
    if let (Some(text), Some(mut stdin)) = (text, child.stdin.take()) {
        thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout = collect(child.stdout.take().expect("stdout"), Some(seen.clone()));
    let stderr = collect(child.stderr.take().expect("stderr"), None);
    Running {
        child,
        stdout,
        stderr,
        seen,
    }
}

impl Running {
    /// Waits until stdout contains `what` (panics after [`LIMIT`]).
    pub fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if self.seen.lock().unwrap_or_else(|p| p.into_inner()).contains(what) {
                return;
            }
            assert!(Instant::now() < deadline, "no {what:?} in the client's output");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the client is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the client and returns what it did.
    pub fn kill(mut self) -> Run {
        let _ = self.child.kill();
        self.finish()
    }

    /// Waits for the client to exit (kills it and panics after [`LIMIT`]).
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("afb-client did not exit within {LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

/// Runs `afb-client ARGS` to its end.
pub fn run(args: &[&str], input: In<'_>) -> Run {
    spawn(args, input).finish()
}

/// The JSON lines of a raw output, parsed.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}")))
        .collect()
}
