// The web console: lists the binder's APIs and verbs, calls any verb with
// JSON arguments, shows replies and live events, and the session.
//
// Page arguments: ?base=api (API root), ?token=T, ?apis=a,b (APIs to
// describe when the monitor API cannot list them).

import { AFB } from "./afb.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const afb = new AFB({ base: params.get("base") || "api", token: params.get("token") || undefined });
const apis = new Map(); // name -> {info, verbs: [{name, info, auth}]}
const MAX_LOG = 500;

function text(value) {
  if (value === undefined) return "";
  return $("pretty").checked ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}

function time() {
  return new Date().toLocaleTimeString();
}

function addLog(kind, title, body) {
  const li = document.createElement("li");
  li.className = "entry " + kind;
  const h = document.createElement("div");
  h.className = "entry-title";
  h.textContent = `${time()} ${title}`;
  const pre = document.createElement("pre");
  pre.textContent = body;
  li.append(h, pre);
  const log = $("log");
  log.prepend(li);
  while (log.children.length > MAX_LOG) log.lastChild.remove();
}

// ---- description parsing ---------------------------------------------------

/** Verbs of a description, AGL OpenAPI form or redpesk info form. */
function parseDescription(desc) {
  const out = { info: "", verbs: [] };
  if (!desc || typeof desc !== "object") return out;
  if (desc.paths && typeof desc.paths === "object") {
    out.info = (desc.info && (desc.info.description || desc.info.title)) || "";
    for (const [path, item] of Object.entries(desc.paths)) {
      const op = (item && (item.get || item.post)) || {};
      const r200 = op.responses && op.responses["200"];
      out.verbs.push({
        name: path.replace(/^\//, ""),
        info: (r200 && r200.description) || op.description || op.summary || "",
        auth: op["x-permissions"],
      });
    }
    return out;
  }
  const meta = desc.metadata || {};
  out.info = meta.info || desc.info || "";
  const add = (v) => {
    if (!v) return;
    if (typeof v === "string") out.verbs.push({ name: v, info: "" });
    else out.verbs.push({ name: v.uid || v.verb || v.name || "?", info: v.info || "", auth: v.auth });
  };
  if (Array.isArray(desc.groups)) {
    for (const g of desc.groups) (g.verbs || []).forEach(add);
  }
  if (Array.isArray(desc.verbs)) desc.verbs.forEach(add);
  else if (desc.verbs && typeof desc.verbs === "object") {
    for (const [name, v] of Object.entries(desc.verbs)) out.verbs.push({ name, info: (v && (v.info || v.doc)) || "" });
  }
  if (typeof out.info !== "string") out.info = JSON.stringify(out.info);
  return out;
}

async function describe(name) {
  for (const verb of ["describe", "info"]) {
    try {
      const r = await afb.call(name, verb, null);
      const parsed = parseDescription(r.response);
      if (parsed.verbs.length || verb === "info") return parsed;
    } catch (e) {
      // try the other form
    }
  }
  return { info: "(no description)", verbs: [] };
}

function renderApis() {
  // The sample game's page comes with its API (the daemon's samples).
  $("tictactoe-link").hidden = !apis.has("tictactoe");
  const list = $("api-list");
  list.replaceChildren();
  const names = $("api-names");
  names.replaceChildren();
  for (const name of [...apis.keys()].sort()) {
    const api = apis.get(name);
    const opt = document.createElement("option");
    opt.value = name;
    names.append(opt);
    const li = document.createElement("li");
    li.className = "api";
    li.dataset.api = name;
    const details = document.createElement("details");
    details.open = apis.size <= 4;
    const summary = document.createElement("summary");
    summary.textContent = name;
    if (api.info) summary.title = api.info;
    details.append(summary);
    const ul = document.createElement("ul");
    for (const v of api.verbs) {
      const vli = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "verb";
      b.dataset.api = name;
      b.dataset.verb = v.name;
      b.textContent = v.name;
      b.title = v.info || "";
      b.setAttribute("aria-label", `${name}/${v.name}${v.info ? ": " + v.info : ""}`);
      b.addEventListener("click", () => pickVerb(name, v));
      vli.append(b);
      ul.append(vli);
    }
    details.append(ul);
    li.append(details);
    list.append(li);
  }
}

function pickVerb(api, v) {
  $("call-api").value = api;
  $("call-verb").value = v.name;
  let info = v.info || "";
  if (v.auth) info += (info ? " — " : "") + "requires " + JSON.stringify(v.auth);
  $("verb-info").textContent = info;
  $("call-args").focus();
}

async function loadApis() {
  $("apis-note").textContent = "loading…";
  let names = [];
  const described = new Map();
  try {
    const r = await afb.call("monitor", "get", { apis: true });
    const listed = r.response && r.response.apis;
    if (Array.isArray(listed)) names = listed.map(String);
    else if (listed && typeof listed === "object") {
      for (const [name, desc] of Object.entries(listed)) {
        names.push(name);
        const parsed = parseDescription(desc);
        if (parsed.verbs.length) described.set(name, parsed);
      }
    }
    $("apis-note").textContent = "";
  } catch (e) {
    const why = (e && e.request && (e.request.info || e.request.status)) || String(e);
    $("apis-note").textContent = "monitor/get failed (" + why + "): describe APIs by name.";
  }
  for (const n of (params.get("apis") || "").split(",")) if (n.trim()) names.push(n.trim());
  for (const name of new Set(names)) {
    apis.set(name, described.get(name) || (await describe(name)));
  }
  renderApis();
}

// ---- session ------------------------------------------------------------------

async function loadSession() {
  try {
    const r = await afb.call("monitor", "session", null);
    const s = r.response || {};
    if (s.uuid) {
      $("session-uuid").textContent = s.uuid;
      afb.uuid = s.uuid;
    }
    if (s.loa !== undefined) $("session-loa").textContent = String(s.loa);
  } catch (e) {
    // the monitor API may be absent
  }
  try {
    const r = await afb.call("hello", "info", null);
    const s = r.response || {};
    if (s.uuid) {
      $("session-uuid").textContent = s.uuid;
      afb.uuid = s.uuid;
    }
    const loa = s.loa !== undefined ? s.loa : s.LOA;
    if (loa !== undefined) $("session-loa").textContent = String(loa);
  } catch (e) {
    // hello is a sample, often absent
  }
}

// ---- calls and events -----------------------------------------------------------

function parseArgs(raw) {
  const t = raw.trim();
  if (t === "") return null;
  try {
    return JSON.parse(t);
  } catch (e) {
    return t;
  }
}

async function doCall(ev) {
  ev.preventDefault();
  const api = $("call-api").value.trim();
  const verb = $("call-verb").value.trim();
  if (!api || !verb) return;
  const args = parseArgs($("call-args").value);
  const t0 = performance.now();
  let reply;
  let ok = true;
  try {
    reply = await afb.call(api, verb, args);
  } catch (e) {
    ok = false;
    reply = e;
  }
  const ms = (performance.now() - t0).toFixed(1);
  const status = (reply && reply.request && reply.request.status) || "?";
  $("last-reply").textContent = text(reply);
  $("last-reply").className = "reply " + (ok ? "ok" : "error");
  addLog(ok ? "reply ok" : "reply error", `${api}/${verb} → ${status} (${ms} ms)`, text(reply));
  if (api === "hello" && verb === "set-loa") loadSession();
}

afb.onevent("*", (ev, name) => {
  addLog("event", `event ${name}`, text(ev && "data" in ev ? ev.data : ev));
});

afb.oncall("*", (args, apiVerb) => {
  addLog("event", `the server called ${apiVerb}`, text(args));
  const e = new Error("the console does not answer calls");
  e.status = "unknown-verb";
  throw e;
});

afb.on("state", (s) => {
  $("conn-state").textContent = s;
  $("conn-state").className = "state " + s;
});

afb.on("open", () => {
  loadSession();
  if (apis.size === 0) loadApis();
});

$("call-form").addEventListener("submit", doCall);
$("clear-log").addEventListener("click", () => $("log").replaceChildren());
$("refresh-apis").addEventListener("click", () => {
  apis.clear();
  loadApis();
});
$("describe-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("describe-name").value.trim();
  if (!name) return;
  apis.set(name, await describe(name));
  renderApis();
});
$("call-api").addEventListener("change", () => {
  const api = apis.get($("call-api").value.trim());
  $("verb-info").textContent = api ? api.info : "";
});

window.afbConsole = { afb, apis, parseDescription };
