// The web console: lists the binder's APIs and verbs, calls any verb with
// JSON arguments, shows replies and live events, and the session; traces
// the session's requests (monitor/trace) and shows the metrics per verb
// (calls, errors, latency quantiles from /metrics when --metrics is on).
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
  if (name === "monitor/trace") return; // shown by the trace view
  addLog("event", `event ${name}`, text(ev && "data" in ev ? ev.data : ev));
});

// ---- trace view ---------------------------------------------------------------

const MAX_TRACE = 1000;
const TRACE_TAG = "console";

function cell(textValue, cls) {
  const td = document.createElement("td");
  td.textContent = textValue;
  if (cls) td.className = cls;
  return td;
}

/** Whether a trace row passes the API, verb and session filters. */
function traceVisible(tr) {
  const want = (id) => $(id).value.trim().toLowerCase();
  const has = (v, w) => !w || v.toLowerCase().includes(w);
  return has(tr.dataset.api, want("trace-api")) && has(tr.dataset.verb, want("trace-verb"))
    && has(tr.dataset.session, want("trace-session"));
}

function applyTraceFilter() {
  for (const tr of $("trace-rows").children) tr.hidden = !traceVisible(tr);
}

function addTraceRecord(rec) {
  if (!rec || typeof rec !== "object") return;
  const r = rec.request || rec.event || rec.session || {};
  const tr = document.createElement("tr");
  tr.dataset.api = r.api || "";
  tr.dataset.verb = r.verb || "";
  tr.dataset.session = r.session || r.uuid || "";
  tr.dataset.action = r.action || "";
  const when = typeof rec.time === "number" ? new Date(rec.time * 1000).toLocaleTimeString() : "";
  const what = r.api !== undefined ? `${r.api}/${r.verb}` : r.name || r.uuid || "";
  const data = rec.data === undefined ? "" : JSON.stringify(rec.data);
  if (rec.data && rec.data.error && rec.data.error !== "success") tr.className = "error";
  tr.append(cell(when), cell(String(r.index ?? rec.id ?? ""), "num"), cell(what), cell(r.action || ""), cell(data, "data"));
  tr.hidden = !traceVisible(tr);
  const rows = $("trace-rows");
  rows.prepend(tr);
  while (rows.children.length > MAX_TRACE) rows.lastChild.remove();
}

afb.onevent("monitor/trace", (ev) => addTraceRecord(ev && "data" in ev ? ev.data : ev));

async function traceStart(ev) {
  ev.preventDefault();
  const flags = $("trace-flags").value.split(/[\s,]+/).filter(Boolean);
  try {
    await afb.call("monitor", "trace", { drop: { tag: TRACE_TAG } }).catch(() => {});
    await afb.call("monitor", "trace", { add: { tag: TRACE_TAG, request: flags.length ? flags : ["common"] } });
    $("trace-note").textContent = `tracing this session's requests (${flags.join(", ") || "common"})`;
    $("trace-start").disabled = true;
    $("trace-stop").disabled = false;
  } catch (e) {
    const info = (e && e.request && (e.request.info || e.request.status)) || String(e);
    $("trace-note").textContent = `cannot trace: ${info}`;
  }
}

async function traceStop() {
  try {
    await afb.call("monitor", "trace", { drop: { tag: TRACE_TAG } });
  } catch (e) {
    // nothing was traced
  }
  $("trace-note").textContent = "stopped";
  $("trace-start").disabled = false;
  $("trace-stop").disabled = true;
}

// ---- metrics view ---------------------------------------------------------------

/** Parses the OpenMetrics/Prometheus text into samples {name, labels, value}. */
export function parseMetrics(textValue) {
  const out = [];
  for (const line of textValue.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[2] || ""))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** The q-quantile of cumulative buckets [[le, count]] (linear within a bucket). */
export function quantile(q, buckets) {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function ms(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return seconds < 0.001 ? `${(seconds * 1e6).toFixed(0)} µs` : `${(seconds * 1000).toFixed(2)} ms`;
}

/** Calls, errors and latency quantiles per API/verb. */
export function verbTable(samples) {
  const rows = new Map();
  const row = (api, verb) => {
    const k = `${api}/${verb}`;
    if (!rows.has(k)) rows.set(k, { key: k, calls: 0, errors: 0, buckets: [] });
    return rows.get(k);
  };
  for (const s of samples) {
    if (s.name === "afb_calls_total") {
      const r = row(s.labels.api, s.labels.verb);
      r.calls += s.value;
      if (s.labels.status !== "success") r.errors += s.value;
    } else if (s.name === "afb_call_duration_seconds_bucket") {
      row(s.labels.api, s.labels.verb).buckets.push([s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value]);
    }
  }
  return [...rows.values()]
    .map((r) => ({ ...r, p50: quantile(0.5, r.buckets), p90: quantile(0.9, r.buckets), p99: quantile(0.99, r.buckets) }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function metricsRefresh() {
  let res;
  try {
    res = await fetch(new URL("/metrics", location.href), { cache: "no-store" });
  } catch (e) {
    $("metrics-note").textContent = `cannot read the metrics: ${e}`;
    return;
  }
  if (!res.ok) {
    $("metrics-note").textContent = res.status === 404
      ? "the metrics are off: start the binder with --metrics"
      : `cannot read the metrics: HTTP ${res.status}`;
    $("metrics-rows").replaceChildren();
    return;
  }
  const rows = verbTable(parseMetrics(await res.text()));
  $("metrics-rows").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.verb = r.key;
    if (r.errors) tr.className = "error";
    tr.append(cell(r.key), cell(String(r.calls), "num"), cell(String(r.errors), "num"),
      cell(ms(r.p50), "num"), cell(ms(r.p90), "num"), cell(ms(r.p99), "num"));
    return tr;
  }));
  $("metrics-note").textContent = `${rows.length} verbs, read at ${time()}`;
}

let metricsTimer = null;
$("metrics-refresh").addEventListener("click", metricsRefresh);
$("metrics-auto").addEventListener("change", () => {
  clearInterval(metricsTimer);
  metricsTimer = $("metrics-auto").checked ? setInterval(metricsRefresh, 5000) : null;
});
$("trace-form").addEventListener("submit", traceStart);
$("trace-stop").addEventListener("click", traceStop);
$("trace-clear").addEventListener("click", () => $("trace-rows").replaceChildren());
for (const id of ["trace-api", "trace-verb", "trace-session"]) $(id).addEventListener("input", applyTraceFilter);

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

window.afbConsole = { afb, apis, parseDescription, parseMetrics, quantile, verbTable };
