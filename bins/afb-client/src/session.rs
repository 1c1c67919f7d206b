//! The client's main loop, common to both protocols: take requests from the input while the
//! window (`-s`, `-p N`) allows, print what the server sends, and decide the exit code
//! (last reply, hang-up, input failure).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cli::exit;
use crate::complete::Completions;
use crate::input::{Input, Item};
use crate::output::Output;
use crate::request::{parse_line, Line, Request};

/// What a call in flight is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A request of the user, shown as `N:api/verb` (`N:verb` over wsapi).
    User(String),
    /// `monitor/get {"apis":true}`, for completion.
    ListApis,
    /// `API/describe` or wsapi `D`, for completion.
    Describe(String),
}

/// The calls in flight, by id.
#[derive(Debug, Default)]
pub struct Pending<K> {
    calls: HashMap<K, Purpose>,
    user: usize,
}

impl<K: std::hash::Hash + Eq + Copy + Ord> Pending<K> {
    /// Records a call.
    pub fn insert(&mut self, id: K, purpose: Purpose) {
        if matches!(purpose, Purpose::User(_)) {
            self.user += 1;
        }
        if let Some(Purpose::User(_)) = self.calls.insert(id, purpose) {
            self.user -= 1;
        }
    }

    /// Removes and returns the call `id`.
    pub fn remove(&mut self, id: K) -> Option<Purpose> {
        let p = self.calls.remove(&id)?;
        if matches!(p, Purpose::User(_)) {
            self.user -= 1;
        }
        Some(p)
    }

    /// The label of the user call `id`, if it is one in flight.
    pub fn label(&self, id: K) -> Option<&str> {
        match self.calls.get(&id) {
            Some(Purpose::User(l)) => Some(l),
            _ => None,
        }
    }

    /// Whether `id` is in flight.
    pub fn contains(&self, id: K) -> bool {
        self.calls.contains_key(&id)
    }

    /// How many user calls are in flight.
    pub fn user(&self) -> usize {
        self.user
    }

    /// The labels of the user calls in flight, in id order.
    pub fn user_labels(&self) -> Vec<String> {
        let mut v: Vec<(&K, &str)> = self
            .calls
            .iter()
            .filter_map(|(k, p)| match p {
                Purpose::User(l) => Some((k, l.as_str())),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter().map(|(_, l)| l.to_owned()).collect()
    }
}

impl Pending<u16> {
    /// The next id after `*last` that is not in flight (0 is never used); `*last` moves to it.
    pub fn free_id(&self, last: &mut u16) -> u16 {
        loop {
            *last = last.wrapping_add(1);
            if *last != 0 && !self.contains(*last) {
                return *last;
            }
        }
    }
}

/// Writes `buf` (then emptied) to `stream`; a failure is a hang-up.
pub async fn send_all(stream: &mut afb_endpoint::Stream, buf: &mut Vec<u8>) -> Result<(), Closed> {
    use tokio::io::AsyncWriteExt;
    let result = stream.write_all(buf).await;
    buf.clear();
    result.map_err(|e| Closed::HangUp(Some(format!("cannot send: {e}"))))
}

/// The state shared by the main loop and the protocol links.
pub struct Ctx {
    /// The output.
    pub out: Output,
    /// `-e`.
    pub echo: bool,
    /// The exit code the last reply asks for (0 or 1).
    pub status: i32,
    /// Completion names, in the interactive mode.
    pub completions: Option<Arc<Mutex<Completions>>>,
    /// Number of user requests sent so far (the `N` of `N:api/verb`).
    pub sent: u64,
}

impl Ctx {
    /// Prints a warning on stderr (after what stdout already holds).
    pub fn warn(&mut self, msg: &str) {
        self.out.warn(msg);
    }

    /// Records the outcome of a user call.
    pub fn replied(&mut self, ok: bool) {
        self.status = if ok { exit::SUCCESS } else { exit::ERROR };
    }

    /// The next request number.
    pub fn next_number(&mut self) -> u64 {
        self.sent += 1;
        self.sent
    }
}

/// Why the link ended.
#[derive(Debug)]
pub enum Closed {
    /// The server closed it (reason, if known).
    HangUp(Option<String>),
}

/// What `recv` gives.
pub enum Recv<F> {
    /// Something to handle.
    Frame(F),
    /// The link is gone.
    Closed(Closed),
}

/// A connection speaking one of the protocols.
pub trait Link {
    /// What one receive gives.
    type Frame;
    /// Waits for the next thing from the server (must be cancel-safe).
    async fn recv(&mut self) -> Recv<Self::Frame>;
    /// Handles it (prints, answers); an error closes the link.
    async fn handle(&mut self, frame: Self::Frame, ctx: &mut Ctx) -> Result<(), Closed>;
    /// Sends a request (prints the echo if asked).
    async fn send(&mut self, request: Request, ctx: &mut Ctx) -> Result<(), Closed>;
    /// Asks the server for the names to complete.
    async fn fetch_completions(&mut self, ctx: &mut Ctx) -> Result<(), Closed>;
    /// The user calls in flight.
    fn in_flight(&self) -> usize;
    /// The labels of the user calls in flight.
    fn in_flight_labels(&self) -> Vec<String>;
    /// The most calls the protocol allows in flight.
    fn max_in_flight(&self) -> usize;
    /// Whether this is the wsapi mode (`VERB ARGS` lines).
    fn direct(&self) -> bool;
}

/// How the loop behaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// At most this many requests in flight (`None`: no limit).
    pub window: Option<usize>,
    /// `-k`.
    pub keep_running: bool,
    /// `-b`.
    pub break_after_send: bool,
}

/// Runs the client until the end; returns the exit code.
pub async fn run<L: Link>(link: &mut L, ctx: &mut Ctx, mut input: Input, how: Behaviour) -> i32 {
    let window = how.window.unwrap_or(usize::MAX).min(link.max_in_flight()).max(1);
    let mut input_open = true;
    if ctx.completions.is_some() {
        if let Err(closed) = link.fetch_completions(ctx).await {
            return hang_up(link, ctx, closed);
        }
    }
    loop {
        if let Err(e) = ctx.out.flush() {
            eprintln!("afb-client: cannot write the output: {e}");
            return exit::INPUT;
        }
        if !input_open && link.in_flight() == 0 && !how.keep_running {
            return ctx.status;
        }
        let can_take = input_open && link.in_flight() < window;
        tokio::select! {
            received = link.recv() => {
                let result = match received {
                    Recv::Frame(frame) => link.handle(frame, ctx).await,
                    Recv::Closed(closed) => Err(closed),
                };
                if let Err(closed) = result {
                    return hang_up(link, ctx, closed);
                }
            }
            item = input.recv(), if can_take => {
                let request = match item {
                    Some(Item::Line(line)) => match parse_line(&line, link.direct()) {
                        Line::Skip => continue,
                        Line::Bad(msg) => {
                            ctx.warn(&msg);
                            continue;
                        }
                        Line::Request { request, warning } => {
                            if let (Some(w), true) = (warning, ctx.out.is_human()) {
                                ctx.warn(&w);
                            }
                            request
                        }
                    },
                    Some(Item::Request(request)) => request,
                    Some(Item::End) | None => {
                        input_open = false;
                        continue;
                    }
                    Some(Item::Quit) => {
                        let _ = ctx.out.flush();
                        return ctx.status;
                    }
                    Some(Item::Failed(msg)) => {
                        ctx.warn(&msg);
                        return exit::INPUT;
                    }
                };
                if let Err(closed) = link.send(request, ctx).await {
                    return hang_up(link, ctx, closed);
                }
                if how.break_after_send {
                    let _ = ctx.out.flush();
                    return exit::SUCCESS;
                }
            }
        }
    }
}

/// Reports a hang-up: `ON-HANGUP` (human form), the reason and each call left without reply
/// on stderr; returns the exit code 2.
fn hang_up<L: Link>(link: &L, ctx: &mut Ctx, closed: Closed) -> i32 {
    let Closed::HangUp(reason) = closed;
    ctx.out.hangup();
    match reason {
        Some(r) => ctx.warn(&format!("the server hung up: {r}")),
        None => ctx.warn("the server hung up"),
    }
    for label in link.in_flight_labels() {
        ctx.warn(&format!("no reply to {label}"));
    }
    exit::HANGUP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_user_calls() {
        let mut p = Pending::<u16>::default();
        p.insert(2, Purpose::User("2:b".into()));
        p.insert(1, Purpose::User("1:a".into()));
        p.insert(3, Purpose::ListApis);
        assert_eq!((p.calls.len(), p.user()), (3, 2));
        assert_eq!(p.user_labels(), vec!["1:a", "2:b"]);
        assert_eq!(p.label(1), Some("1:a"));
        assert_eq!(p.label(3), None);
        assert!(matches!(p.remove(1), Some(Purpose::User(_))));
        assert!(p.remove(1).is_none());
        p.insert(2, Purpose::Describe("x".into()));
        assert_eq!((p.calls.len(), p.user()), (2, 0));
    }
}
