//! Where requests come from: the command line, stdin read line by line (a thread, so that a
//! slow or blocked stdin never stalls the replies), or an interactive line editor with history
//! and completion when stdin is a terminal.

use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::complete::{Completions, Helper};
use crate::output::Sink;
use crate::request::Request;

/// One item of input.
#[derive(Debug)]
pub enum Item {
    /// A line to parse.
    Line(String),
    /// A ready request (from the command line).
    Request(Request),
    /// The input ended.
    End,
    /// The user asked to quit now (Ctrl-C in the line editor).
    Quit,
    /// Reading failed: the message to print.
    Failed(String),
}

/// The receiving end of the input.
pub type Input = mpsc::Receiver<Item>;

/// An input that yields `items` then ends.
pub fn from_items(items: Vec<Item>) -> Input {
    let (tx, rx) = mpsc::channel(items.len() + 1);
    for item in items {
        let _ = tx.try_send(item);
    }
    rx
}

/// Reads all of stdin (ARGS `-`), at most `limit` bytes.
pub fn read_all_stdin(limit: usize) -> Result<String, String> {
    let mut data = Vec::new();
    let mut stdin = io::stdin().lock().take(limit as u64 + 1);
    stdin
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read the arguments from stdin: {e}"))?;
    if data.len() > limit {
        return Err(format!("the arguments read from stdin exceed {limit} bytes"));
    }
    String::from_utf8(data).map_err(|_| "the arguments read from stdin are not UTF-8".to_owned())
}

/// Reads stdin line by line on a thread; lines longer than `max_line` bytes, bytes that are
/// not UTF-8 and read errors end the input with [`Item::Failed`].
pub fn stdin_lines(max_line: usize) -> Input {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let mut reader = io::BufReader::with_capacity(64 * 1024, stdin.lock());
        let mut buf = Vec::new();
        let mut number = 0u64;
        loop {
            buf.clear();
            number += 1;
            let item = match (&mut reader).take(max_line as u64 + 1).read_until(b'\n', &mut buf) {
                Ok(0) => Item::End,
                Ok(_) if buf.len() > max_line => Item::Failed(format!("line {number} is longer than {max_line} bytes")),
                Ok(_) => match String::from_utf8(std::mem::take(&mut buf)) {
                    Ok(line) => Item::Line(line),
                    Err(_) => Item::Failed(format!("line {number} is not valid UTF-8")),
                },
                Err(e) => Item::Failed(format!("cannot read stdin: {e}")),
            };
            let last = !matches!(item, Item::Line(_));
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// The terminal settings saved before the line editor starts, restored at exit: the editor
/// thread may still be inside `readline` (terminal in raw mode) when the client exits.
pub struct TerminalState(Option<String>);

impl TerminalState {
    /// Saves the settings of the terminal on stdin (`stty -g`).
    pub fn save() -> TerminalState {
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        TerminalState(saved)
    }

    /// Puts the saved settings back.
    pub fn restore(&self) {
        if let Some(saved) = &self.0 {
            let _ = std::process::Command::new("stty")
                .arg(saved)
                .stdin(std::process::Stdio::inherit())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Where the history is kept (as redpesk's client): `$HOME/.config/afb-client.history`.
fn history_path() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(
        std::path::PathBuf::from(home)
            .join(".config")
            .join("afb-client.history"),
    )
}

/// Starts the line editor on a thread. Returns the input and the sink that prints above the
/// prompt, or an error when the terminal cannot be used (then stdin is read as lines).
pub fn interactive(completions: Arc<Mutex<Completions>>, direct: bool) -> Result<(Input, Sink), String> {
    use rustyline::history::DefaultHistory;
    use rustyline::{CompletionType, Config, Editor};

    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<Helper, DefaultHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot use the terminal: {e}"))?;
    editor.set_helper(Some(Helper::new(completions, direct)));
    let printer = editor
        .create_external_printer()
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        use rustyline::error::ReadlineError;
        loop {
            let item = match editor.readline("afb> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                        if let Some(path) = &history {
                            if let Some(dir) = path.parent() {
                                let _ = std::fs::create_dir_all(dir);
                            }
                            let _ = editor.save_history(path);
                        }
                    }
                    Item::Line(line)
                }
                Err(ReadlineError::Eof) => Item::End,
                Err(ReadlineError::Interrupted) => Item::Quit,
                Err(e) => Item::Failed(format!("cannot read the terminal: {e}")),
            };
            let last = !matches!(item, Item::Line(_));
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    });
    Ok((rx, Sink::Printer(Box::new(printer))))
}
