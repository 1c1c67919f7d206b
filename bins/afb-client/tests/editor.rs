//! The interactive line editor (stdin is a terminal), driven in a `tmux`
//! pane against the real daemon: a typed call is answered; Up brings the
//! last line back, also in the next run (the history file under `$HOME`);
//! Tab completes API and verb names.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use afb_testkit::{bin_path, Daemon, TempDir};

/// A tmux server of its own (`-L`), killed when dropped.
struct Tmux {
    tool: std::path::PathBuf,
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.tool)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `afb-client URL` with `HOME` in a new detached session.
    fn client(&self, session: &str, home: &Path, url: &str) {
        let line = format!(
            "env HOME='{}' TERM=xterm '{}' {url}",
            home.display(),
            bin_path("afb-client").display()
        );
        let o = self.cmd(&["new-session", "-d", "-s", session, "-x", "160", "-y", "40", &line]);
        assert!(
            o.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "tmux send-keys {keys:?}");
    }

    fn text(&self, session: &str, text: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", session, "-l", text]).status.success(),
            "tmux send-keys -l {text:?}"
        );
    }

    /// The pane's text.
    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
    }

    /// The last line that is not blank (the prompt line).
    fn prompt_line(&self, session: &str) -> String {
        let s = self.screen(session);
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim_end()
            .to_owned()
    }

    /// Waits up to 15 s until `pred` holds for the screen.
    fn wait(&self, session: &str, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen(session);
            if pred(&s) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the prompt line is `expected`.
    fn wait_prompt(&self, session: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let l = self.prompt_line(session);
            if l == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the prompt line is {l:?}, not {expected:?}; the screen:\n{}",
                self.screen(session)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn history_and_completion_in_a_terminal() {
    let Some(tool) = afb_testkit::require_tool("tmux") else {
        return;
    };
    let d = Daemon::start(&[]);
    let home = TempDir::new("editor-home");
    let tmux = Tmux {
        tool,
        socket: format!("afb-editor-{}", std::process::id()),
    };
    tmux.client("one", home.path(), &d.ws_url());
    tmux.wait_prompt("one", "afb>");

    // A call typed at the prompt is answered.
    tmux.text("one", r#"hello/ping {"n":1}"#);
    tmux.keys("one", &["Enter"]);
    tmux.wait("one", "the reply of the typed call", |s| {
        s.matches("Some String").count() == 1
    });

    // Up brings it back; Enter sends it again.
    tmux.wait_prompt("one", "afb>");
    tmux.keys("one", &["Up"]);
    tmux.wait_prompt("one", r#"afb> hello/ping {"n":1}"#);
    tmux.keys("one", &["Enter"]);
    tmux.wait("one", "the reply of the recalled call", |s| {
        s.matches("Some String").count() == 2
    });

    // Tab completes the API (names from monitor/get, fetched at start-up),
    // then the verb of that API.
    tmux.wait_prompt("one", "afb>");
    tmux.text("one", "tic");
    tmux.keys("one", &["Tab"]);
    tmux.wait_prompt("one", "afb> tictactoe");
    tmux.text("one", "jo");
    tmux.keys("one", &["Tab"]);
    tmux.wait_prompt("one", "afb> tictactoe join");
    tmux.keys("one", &["C-u"]);
    tmux.wait_prompt("one", "afb>");
    tmux.keys("one", &["C-d"]);

    let history = home.path().join(".config/afb-client.history");
    let deadline = Instant::now() + Duration::from_secs(15);
    let saved = loop {
        let saved = std::fs::read_to_string(&history).unwrap_or_default();
        if saved.contains(r#"hello/ping {"n":1}"#) || Instant::now() > deadline {
            break saved;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(saved.contains(r#"hello/ping {"n":1}"#), "history file: {saved:?}");
    assert!(
        !saved.contains("tictactoe"),
        "a line not entered is not history: {saved:?}"
    );

    // The next run starts with that history.
    tmux.client("two", home.path(), &d.ws_url());
    tmux.wait_prompt("two", "afb>");
    tmux.keys("two", &["Up"]);
    tmux.wait_prompt("two", r#"afb> hello/ping {"n":1}"#);
    tmux.keys("two", &["C-u", "C-d"]);
}
