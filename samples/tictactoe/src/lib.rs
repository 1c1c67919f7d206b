//! The `tictactoe` sample API: the binding guide's game.
//!
//! Each session plays on a board kept as its context value; `join` makes a
//! session share another's board. Every change pushes `tictactoe/board` to
//! the players (the board's description plus `"change"`: what changed), and
//! `wait` answers when the board changes next. The server plays with a
//! depth-limited search whose depth is the level (1..10; 9 and above play
//! perfectly).
//!
//! The game's web page ([`WEB_FILES`]) comes with it: the daemon serves it
//! beside its built-in pages (`/devtools/tictactoe.html`).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use afb_sdk::prelude::*;
use serde::Deserialize;
use tokio::sync::watch;

/// The game's web page and its script, (file name, content): served beside
/// the binder's built-in pages, whose `afb.js` and `console.css` they use.
pub const WEB_FILES: &[(&str, &[u8])] = &[
    ("tictactoe.html", include_bytes!("../web/tictactoe.html")),
    ("tictactoe.js", include_bytes!("../web/tictactoe.js")),
];

const EMPTY: u8 = b' ';
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// The game state of one board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Game {
    cells: [u8; 9],
    history: Vec<usize>,
    level: u32,
}

impl Default for Game {
    fn default() -> Self {
        Game {
            cells: [EMPTY; 9],
            history: Vec::new(),
            level: 1,
        }
    }
}

fn other(p: u8) -> u8 {
    if p == b'X' {
        b'O'
    } else {
        b'X'
    }
}

fn winner_of(cells: &[u8; 9]) -> Option<u8> {
    LINES
        .iter()
        .find(|l| cells[l[0]] != EMPTY && cells[l[0]] == cells[l[1]] && cells[l[1]] == cells[l[2]])
        .map(|l| cells[l[0]])
}

/// Score of the position for `player` to move, searching `depth` plies.
fn negamax(cells: &mut [u8; 9], player: u8, depth: u32) -> i32 {
    if winner_of(cells).is_some() {
        // The previous player just won.
        return -(10 + depth as i32);
    }
    if depth == 0 || cells.iter().all(|&c| c != EMPTY) {
        return 0;
    }
    let mut best = i32::MIN;
    for i in 0..9 {
        if cells[i] == EMPTY {
            cells[i] = player;
            best = best.max(-negamax(cells, other(player), depth - 1));
            cells[i] = EMPTY;
        }
    }
    best
}

impl Game {
    /// The player whose turn it is (`X` starts).
    pub fn next_player(&self) -> u8 {
        if self.history.len() % 2 == 0 {
            b'X'
        } else {
            b'O'
        }
    }

    /// `X`, `O`, `-` for a draw, or `None` while playing.
    pub fn winner(&self) -> Option<u8> {
        winner_of(&self.cells).or_else(|| self.cells.iter().all(|&c| c != EMPTY).then_some(b'-'))
    }

    /// Plays at `index` for the next player.
    pub fn play_at(&mut self, index: usize) -> Result<(), Error> {
        if index > 8 {
            return Err(Error::invalid_request(format!("index {index} out of 0..8")));
        }
        if self.winner().is_some() {
            return Err(Error::failed("the game is over"));
        }
        if self.cells[index] != EMPTY {
            return Err(Error::failed(format!("cell {index} is taken")));
        }
        self.cells[index] = self.next_player();
        self.history.push(index);
        Ok(())
    }

    /// The server's choice for the next player, searching `level` plies.
    pub fn best_move(&self) -> Option<usize> {
        if self.winner().is_some() {
            return None;
        }
        let me = self.next_player();
        let mut cells = self.cells;
        let depth = self.level.clamp(1, 10);
        let mut best: Option<(i32, usize)> = None;
        for i in 0..9 {
            if cells[i] == EMPTY {
                cells[i] = me;
                let score = -negamax(&mut cells, other(me), depth - 1);
                cells[i] = EMPTY;
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, i));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// Takes back the last move.
    pub fn undo(&mut self) -> Result<(), Error> {
        let i = self.history.pop().ok_or_else(|| Error::failed("nothing to undo"))?;
        self.cells[i] = EMPTY;
        Ok(())
    }

    fn describe(&self, id: u32) -> Value {
        let board: Vec<String> = self.cells.iter().map(|&c| (c as char).to_string()).collect();
        let mut v = json!({
            "boardid": id,
            "level": self.level,
            "board": board,
            "history": self.history,
        });
        if let Some(w) = self.winner() {
            v["winner"] = json!((w as char).to_string());
        }
        v
    }
}

/// A board shared by its players.
struct Board {
    id: u32,
    game: Mutex<Game>,
    changed: watch::Sender<&'static str>,
    event: Event,
}

impl Board {
    fn game(&self) -> MutexGuard<'_, Game> {
        self.game.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn describe(&self) -> Value {
        self.game().describe(self.id)
    }

    /// Tells the players and the waiters.
    fn changed(&self, change: &'static str) -> Value {
        let desc = self.describe();
        let mut pushed = desc.clone();
        pushed["change"] = json!(change);
        let _ = self.event.push(&pushed);
        self.changed.send_replace(change);
        desc
    }
}

/// A session's context: the board it plays on.
struct Player(Arc<Board>);

#[derive(Default)]
struct Boards {
    next_id: AtomicU32,
    all: Mutex<HashMap<u32, Weak<Board>>>,
}

impl Boards {
    fn create(&self, api: &Api) -> Result<Arc<Board>, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let board = Arc::new(Board {
            id,
            game: Mutex::new(Game::default()),
            changed: watch::channel("new").0,
            event: api.new_event("board")?,
        });
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, w| w.strong_count() > 0);
        all.insert(id, Arc::downgrade(&board));
        Ok(board)
    }

    fn find(&self, id: u32) -> Option<Arc<Board>> {
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .and_then(Weak::upgrade)
    }
}

fn board_of(st: &Boards, req: &Req) -> Result<Arc<Board>, Error> {
    if let Some(p) = req.context::<Player>() {
        return Ok(p.0.clone());
    }
    let board = st.create(&req.api())?;
    let player = req.context_or_insert_with(|| Player(board));
    // Plain HTTP clients cannot receive events; they can still play.
    let _ = req.subscribe(&player.0.event);
    Ok(player.0.clone())
}

#[derive(Deserialize)]
struct MoveArgs {
    index: Value,
}

#[derive(Deserialize)]
struct LevelArgs {
    level: Value,
}

#[derive(Deserialize)]
struct JoinArgs {
    boardid: Value,
}

/// Reads an integer given as a JSON number or as text (HTTP query values
/// are strings).
fn int(v: &Value, what: &str) -> Result<u64, Error> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| Error::invalid_request(format!("{what} must be a non-negative integer")))
}

/// Declares the `tictactoe` API.
pub fn api() -> ApiBuilder {
    ApiBuilder::new("tictactoe")
        .info("Sample tic-tac-toe game")
        .state(Boards::default())
        .verb(Verb::new("new", new).info("Starts a new game"))
        .verb(Verb::new("play", play).info("Asks the server to play"))
        .verb(Verb::new("move", play_move).info("Tells the client move"))
        .verb(Verb::new("board", board).info("Get the current board"))
        .verb(Verb::new("level", level).info("Set the server level"))
        .verb(Verb::new("join", join).auth(Auth::check()).info("Join a board"))
        .verb(Verb::new("undo", undo).info("Undo the last move"))
        .verb(Verb::new("wait", wait).info("Wait for a change"))
}

async fn new(boards: State<Boards>, req: Req) -> Result<Value, Error> {
    let b = board_of(&boards, &req)?;
    {
        let mut g = b.game();
        let level = g.level;
        *g = Game {
            level,
            ..Game::default()
        };
    }
    Ok(b.changed("new"))
}

async fn play(boards: State<Boards>, req: Req) -> Result<Value, Error> {
    let b = board_of(&boards, &req)?;
    {
        let mut g = b.game();
        let i = g.best_move().ok_or_else(|| Error::failed("the game is over"))?;
        g.play_at(i)?;
    }
    Ok(b.changed("play"))
}

async fn play_move(boards: State<Boards>, req: Req, Json(a): Json<MoveArgs>) -> Result<Value, Error> {
    let index = int(&a.index, "index")?;
    let b = board_of(&boards, &req)?;
    b.game().play_at(usize::try_from(index).unwrap_or(usize::MAX))?;
    Ok(b.changed("move"))
}

async fn board(boards: State<Boards>, req: Req) -> Result<Value, Error> {
    Ok(board_of(&boards, &req)?.describe())
}

async fn level(boards: State<Boards>, req: Req, Json(a): Json<LevelArgs>) -> Result<Value, Error> {
    let level = int(&a.level, "level")?;
    if !(1..=10).contains(&level) {
        return Err(Error::invalid_request("level must be 1..10"));
    }
    let b = board_of(&boards, &req)?;
    b.game().level = level as u32;
    Ok(b.changed("level"))
}

async fn join(boards: State<Boards>, req: Req, Json(a): Json<JoinArgs>) -> Result<Value, Error> {
    let id = int(&a.boardid, "boardid")?;
    let id = u32::try_from(id).map_err(|_| Error::invalid_request("boardid out of range"))?;
    let target = boards.find(id).ok_or_else(|| Error::failed(format!("no board {id}")))?;
    if let Some(old) = req.context::<Player>() {
        let _ = req.unsubscribe(&old.0.event);
    }
    req.set_context(Player(target.clone()));
    let _ = req.subscribe(&target.event);
    Ok(target.changed("join"))
}

async fn undo(boards: State<Boards>, req: Req) -> Result<Value, Error> {
    let b = board_of(&boards, &req)?;
    b.game().undo()?;
    Ok(b.changed("undo"))
}

async fn wait(boards: State<Boards>, req: Req) -> Result<Response, Error> {
    let b = board_of(&boards, &req)?;
    let mut rx = b.changed.subscribe();
    rx.changed().await.map_err(|_| Error::bad_state("board deleted"))?;
    let change = *rx.borrow();
    Ok(Response::json(&b.describe())?.info(change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winner_and_draw() {
        let mut g = Game::default();
        for i in [0, 3, 1, 4, 2] {
            g.play_at(i).unwrap();
        }
        assert_eq!(g.winner(), Some(b'X'));
        assert!(g.play_at(8).is_err());
        let mut d = Game::default();
        for i in [0, 1, 2, 4, 3, 5, 7, 6, 8] {
            d.play_at(i).unwrap();
        }
        assert_eq!(d.winner(), Some(b'-'));
        assert_eq!(d.best_move(), None);
    }

    #[test]
    fn moves_are_checked() {
        let mut g = Game::default();
        g.play_at(4).unwrap();
        assert_eq!(g.play_at(4).unwrap_err().status, "failed");
        assert_eq!(g.play_at(9).unwrap_err().status, "invalid-request");
        assert_eq!(g.next_player(), b'O');
        g.undo().unwrap();
        assert_eq!(g.next_player(), b'X');
        assert!(g.undo().is_err());
    }

    #[test]
    fn server_takes_a_win_and_blocks_a_loss() {
        // X: 0, 1 ; O: 3, 4 — X to move wins at 2.
        let mut g = Game::default();
        for i in [0, 3, 1, 4] {
            g.play_at(i).unwrap();
        }
        assert_eq!(g.best_move(), Some(2));
        // X: 0, 1 ; O: 4 — O to move must block at 2 (level 2 sees it).
        let mut g = Game {
            level: 2,
            ..Game::default()
        };
        for i in [0, 4, 1] {
            g.play_at(i).unwrap();
        }
        assert_eq!(g.best_move(), Some(2));
    }

    #[test]
    fn perfect_play_always_draws() {
        let mut g = Game {
            level: 9,
            ..Game::default()
        };
        while let Some(i) = g.best_move() {
            g.play_at(i).unwrap();
        }
        assert_eq!(g.winner(), Some(b'-'));
    }
}
