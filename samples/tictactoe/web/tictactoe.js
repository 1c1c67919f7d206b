// The tic-tac-toe page: plays the sample `tictactoe` API and follows the
// `tictactoe/board` events, so that every page that joined a board shows it.

import { AFB } from "./afb.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const afb = new AFB({ base: params.get("base") || "api", token: params.get("token") || undefined });
const cells = [...document.querySelectorAll("#board button")];
let board = null;

function say(text) {
  $("message").textContent = text || "";
}

function failure(e) {
  const r = e && e.request;
  return r ? `${r.status}${r.info ? ": " + r.info : ""}` : String(e);
}

function show(b) {
  if (!b || !Array.isArray(b.board)) return;
  board = b;
  $("board-id").textContent = String(b.boardid);
  $("level").value = String(b.level);
  const last = Array.isArray(b.history) && b.history.length ? b.history[b.history.length - 1] : -1;
  cells.forEach((cell, i) => {
    const v = b.board[i] || " ";
    cell.textContent = v.trim();
    cell.className = (v.trim() || "empty") + (i === last ? " last" : "");
    cell.disabled = v.trim() !== "" || !!b.winner;
    cell.setAttribute("aria-label", `cell ${i + 1}, ${v.trim() || "empty"}`);
  });
  const moves = b.board.filter((c) => c.trim()).length;
  let status;
  if (b.winner === "-") status = "Draw.";
  else if (b.winner) status = `${b.winner} wins.`;
  else status = `${moves % 2 === 0 ? "X" : "O"} to play (move ${moves + 1}).`;
  if (b.change) status += ` Last change: ${b.change}.`;
  $("game-status").textContent = status;
}

async function run(verb, args) {
  say("");
  try {
    const r = await afb.call("tictactoe", verb, args === undefined ? null : args);
    show(r.response);
    return r;
  } catch (e) {
    say(`${verb} failed: ${failure(e)}`);
    return null;
  }
}

cells.forEach((cell) => {
  cell.addEventListener("click", async () => {
    const r = await run("move", { index: Number(cell.dataset.index) });
    if (r && $("auto-play").checked && !(r.response && r.response.winner)) await run("play");
  });
});

$("new-game").addEventListener("click", () => run("new"));
$("server-play").addEventListener("click", () => run("play"));
$("undo").addEventListener("click", () => run("undo"));
$("level-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run("level", { level: Number($("level").value) });
});
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run("join", { boardid: Number($("join-id").value) });
});
$("wait").addEventListener("click", async () => {
  $("wait-result").textContent = "waiting…";
  try {
    const r = await afb.call("tictactoe", "wait", null);
    $("wait-result").textContent = `changed: ${(r.request && r.request.info) || "?"}`;
    show(r.response);
  } catch (e) {
    $("wait-result").textContent = `wait failed: ${failure(e)}`;
  }
});

afb.onevent("tictactoe/board", (ev) => show(ev && ev.data));

afb.on("state", (s) => {
  $("conn-state").textContent = s;
  $("conn-state").className = "state " + s;
});

// On every (re)connection, show the session's board (created when the
// session has none), then join it: joining subscribes this connection to its
// changes even when another page of the same session created it.
afb.on("open", async () => {
  const r = await run("board");
  if (r && r.response) await run("join", { boardid: r.response.boardid });
});

window.tictactoe = { afb, get board() { return board; } };
