//! `-e/--exec PROG ARGS...`: the child run once the daemon serves, with
//! `@p` (port), `@t` (token) and `@@` (`@`) substituted in its arguments and
//! the daemon's `AFB_*` variables in its environment. The daemon exits when
//! the child exits, with the child's exit code.

use std::process::ExitStatus;

/// Substitutes `@p`, `@t` and `@@` in `arg`; any other `@` stays.
pub fn substitute(arg: &str, port: u16, token: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 8);
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '@' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('p') => {
                chars.next();
                out.push_str(&port.to_string());
            }
            Some('t') => {
                chars.next();
                out.push_str(token);
            }
            Some('@') => {
                chars.next();
                out.push('@');
            }
            _ => out.push('@'),
        }
    }
    out
}

/// Starts the child. `env` is added to its environment; the variables of
/// socket activation and of the daemon's own re-execution are removed.
pub fn spawn(cmd: &[String], port: u16, token: &str, env: &[(&str, String)]) -> Result<tokio::process::Child, String> {
    let (prog, args) = cmd.split_first().ok_or("--exec: no program given")?;
    let mut c = tokio::process::Command::new(substitute(prog, port, token));
    c.args(args.iter().map(|a| substitute(a, port, token)));
    for (k, v) in env {
        c.env(k, v);
    }
    for k in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        crate::process::REEXEC_MARK,
    ] {
        c.env_remove(k);
    }
    c.kill_on_drop(true);
    c.spawn().map_err(|e| format!("--exec {prog}: {e}"))
}

/// The exit code a child's status stands for (128 + signal when killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions() {
        assert_eq!(
            substitute("http://localhost:@p/", 1234, "tok"),
            "http://localhost:1234/"
        );
        assert_eq!(substitute("@t@@@p", 8, "T"), "T@8");
        assert_eq!(substitute("a@b@", 8, "T"), "a@b@");
        assert_eq!(substitute("@", 8, ""), "@");
        assert_eq!(substitute("x@t", 8, ""), "x");
    }

    #[tokio::test]
    async fn child_exit_code_is_propagated() {
        let mut c = spawn(&["sh".into(), "-c".into(), "exit 7".into()], 1, "", &[]).unwrap();
        assert_eq!(exit_code(c.wait().await.unwrap()), 7);
        let mut c = spawn(&["sh".into(), "-c".into(), "kill -9 $$".into()], 1, "", &[]).unwrap();
        assert_eq!(exit_code(c.wait().await.unwrap()), 137);
        assert!(spawn(&[], 1, "", &[]).is_err());
        assert!(spawn(&["/no/such/program".into()], 1, "", &[]).is_err());
    }
}
