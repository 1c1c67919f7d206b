// afb.js: a client of the application framework binder's JSON WebSocket
// (subprotocol x-afb-ws-json1). ES module, no dependencies.
//
// Modern use:
//
//   import { AFB } from "/devtools/afb.js";
//   const afb = new AFB({ base: "api", token: "secret" });   // connects at once
//   const reply = await afb.call("hello", "ping", { a: 1 });  // rejects with the reply on error
//   afb.onevent("hello/*", (ev) => console.log(ev.event, ev.data));
//   afb.oncall("ui/confirm", async (args) => true);           // answer calls from the server
//
// Options of `new AFB({...})`: host (default: the page's host), base (API root
// without slashes, default "api"), token and uuid (sent as the x-afb-token and
// x-afb-uuid query arguments), secure (wss:, default: page is https), url
// (a whole ws:// URL instead of host/base), reconnect (default true),
// minDelay/maxDelay (reconnection back-off in ms, default 250/10000),
// connect (default true: connect now).
//
// A reply is the binder's envelope:
//   {"jtype":"afb-reply","request":{"status":"success","code":0,"info":…},"response":…}
// call() resolves with it on success ([3,…]) and rejects with it otherwise
// ([4,…]); when the connection closes, pending calls reject with a reply of
// status "disconnected". An event handler receives the event object
// {"jtype":"afb-event","event":"API/NAME","data":…}.
//
// AGL AFB.js conventions are kept too:
//
//   const afb = AFB("api", "HELLO");                  // base, initial token
//   const ws = new afb.ws(onopen, onabort);           // also afb.WS
//   ws.call("hello/ping", { a: 1 }).then(ok, err);    // or call(m, r, onsuccess, onfailure)
//   ws.onevent("hello/ev1", (obj) => …);              // exact name, API name, or "*"
//   afb.context.token / afb.context.uuid

const CALL = 2;
const RETOK = 3;
const RETERR = 4;
const EVENT = 5;

/** The subprotocol spoken. */
export const PROTOCOL = "x-afb-ws-json1";

const CODES = {
  success: 0, "internal-error": -1, "out-of-memory": -2, "unknown-api": -3, "unknown-verb": -4,
  "not-available": -5, unauthorized: -6, "invalid-token": -7, forbidden: -8, "insufficient-scope": -9,
  "bad-api-state": -10, "not-replied": -11, "invalid-request": -12, "no-item": -13, "bad-state": -14,
  disconnected: -15, timeout: -16,
};

/** Builds a reply envelope. */
export function makeReply(status, info, response) {
  const request = { status, code: status in CODES ? CODES[status] : -1 };
  if (info !== undefined && info !== null) request.info = String(info);
  const reply = { jtype: "afb-reply", request };
  if (response !== undefined) reply.response = response;
  return reply;
}

/** Whether `name` matches `pattern`: `*` stands for any characters; a
 * pattern without `/` and without `*` also matches every event of that API
 * (AGL convention). */
export function matchEvent(pattern, name) {
  if (pattern === "*" || pattern === name) return true;
  if (!pattern.includes("*")) return !pattern.includes("/") && name.startsWith(pattern + "/");
  const parts = pattern.split("*");
  if (!name.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const j = name.indexOf(parts[i], at);
    if (j < 0) return false;
    at = j + parts[i].length;
  }
  const last = parts[parts.length - 1];
  return name.length - last.length >= at && name.endsWith(last);
}

function defaultHost() {
  return typeof location !== "undefined" && location.host ? location.host : "localhost:1234";
}

function defaultSecure() {
  return typeof location !== "undefined" && location.protocol === "https:";
}

/** A connection to a binder. See the module comment. */
export class AfbClient {
  constructor(options = {}) {
    const o = typeof options === "string" ? { base: options } : options;
    this.host = o.host || defaultHost();
    this.base = String(o.base === undefined ? "api" : o.base).replace(/^\/+|\/+$/g, "");
    this.secure = o.secure === undefined ? defaultSecure() : !!o.secure;
    this.fixedUrl = o.url || null;
    this.token = o.token || null;
    this.uuid = o.uuid || null;
    this.reconnect = o.reconnect !== false;
    this.minDelay = o.minDelay || 250;
    this.maxDelay = o.maxDelay || 10000;
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    this.state = "closed";
    this.ws = null;
    this.counter = 0;
    this.pending = new Map();
    this.queue = [];
    this.handlers = [];
    this.callHandlers = [];
    this.listeners = { open: [], close: [], state: [], message: [] };
    this.delay = this.minDelay;
    this.timer = null;
    this.closedByUser = false;
    if (o.connect !== false) this.connect();
  }

  /** The WebSocket URL, with the token and uuid as query arguments. */
  get url() {
    let u = this.fixedUrl || `${this.secure ? "wss" : "ws"}://${this.host}/${this.base}`;
    const q = [];
    if (this.token) q.push("x-afb-token=" + encodeURIComponent(this.token));
    if (this.uuid) q.push("x-afb-uuid=" + encodeURIComponent(this.uuid));
    if (q.length) u += (u.includes("?") ? "&" : "?") + q.join("&");
    return u;
  }

  /** Registers a listener of "open", "close" (with the CloseEvent),
   * "state" (with the new state) or "message" (with the raw text). Returns
   * a function that removes it. */
  on(what, fn) {
    const l = this.listeners[what];
    if (!l) throw new Error("unknown notification " + what);
    l.push(fn);
    return () => {
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    };
  }

  emit(what, arg) {
    for (const fn of this.listeners[what].slice()) {
      try {
        fn(arg);
      } catch (e) {
        console.error("afb.js: " + what + " listener failed", e);
      }
    }
  }

  setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.emit("state", s);
    }
  }

  /** Opens the connection (again). Resolves when it is open; rejects if it
   * closes first. */
  connect() {
    this.closedByUser = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.ws && (this.state === "open" || this.state === "connecting")) return this.opened;
    this.setState("connecting");
    let ws;
    this.opened = new Promise((resolve, reject) => {
      try {
        ws = new this.WebSocket(this.url, [PROTOCOL]);
      } catch (e) {
        reject(e);
        return;
      }
      ws.onopen = () => {
        this.delay = this.minDelay;
        this.setState("open");
        const q = this.queue;
        this.queue = [];
        for (const text of q) ws.send(text);
        resolve(this);
        this.emit("open");
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        reject(ev);
        this.closed(ev);
      };
      ws.onerror = () => {};
      ws.onmessage = (ev) => this.message(ev.data);
    });
    this.opened.catch(() => {});
    this.ws = ws || null;
    if (!ws) this.closed({ code: 1006, reason: "cannot connect" });
    return this.opened;
  }

  closed(ev) {
    // Every call sent or queued is answered "disconnected"; calls made while
    // waiting to reconnect are queued again.
    const gone = makeReply("disconnected", "the connection to the binder closed");
    const pending = this.pending;
    this.pending = new Map();
    this.queue = [];
    for (const p of pending.values()) p.reject(gone);
    const again = this.reconnect && !this.closedByUser;
    this.setState(again ? "waiting" : "closed");
    this.emit("close", ev);
    if (again) {
      const wait = this.delay * (0.75 + Math.random() / 2);
      this.delay = Math.min(this.maxDelay, this.delay * 2);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closedByUser) this.connect();
      }, wait);
    }
  }

  /** Closes for good (no reconnection). */
  close() {
    this.closedByUser = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.ws) this.ws.close(1000);
    else this.setState("closed");
  }

  send(text) {
    if (this.state === "open" && this.ws) this.ws.send(text);
    else this.queue.push(text);
  }

  /** Calls API/VERB: call("hello", "ping", args) or call("hello/ping", args).
   * Resolves with the reply on success, rejects with it otherwise. Calls
   * made while not connected wait for the connection. */
  call(api, verb, args) {
    let apiVerb = api;
    if (verb !== undefined && typeof verb === "string" && !String(api).includes("/")) {
      apiVerb = api + "/" + verb;
    } else {
      args = verb;
    }
    return new Promise((resolve, reject) => {
      if (this.state === "closed" && this.closedByUser) {
        reject(makeReply("disconnected", "the connection is closed"));
        return;
      }
      let id;
      do {
        this.counter = (this.counter + 1) % 1000000000;
        id = String(this.counter);
      } while (this.pending.has(id));
      this.pending.set(id, { resolve, reject });
      const msg = [CALL, id, apiVerb, args === undefined ? null : args];
      let text;
      try {
        text = JSON.stringify(msg);
      } catch (e) {
        this.pending.delete(id);
        reject(makeReply("invalid-request", "arguments are not serialisable: " + e));
        return;
      }
      this.send(text);
    });
  }

  /** Calls `handler(ev)` for every event whose name matches `pattern`
   * (`*` globs; a bare API name matches all its events). Returns a function
   * that removes the handler. */
  onevent(pattern, handler) {
    const h = { pattern: String(pattern), handler };
    this.handlers.push(h);
    return () => {
      const i = this.handlers.indexOf(h);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Answers the server's calls to `pattern` (API/VERB, `*` globs):
   * `handler(args, apiVerb)` returns the response (or a promise of it);
   * throwing answers an error (the thrown object's `status`, default
   * "failed", and its message as info). Calls nobody handles get an
   * "unknown-verb" error. Returns a function that removes the handler. */
  oncall(pattern, handler) {
    const h = { pattern: String(pattern), handler };
    this.callHandlers.push(h);
    return () => {
      const i = this.callHandlers.indexOf(h);
      if (i >= 0) this.callHandlers.splice(i, 1);
    };
  }

  message(text) {
    this.emit("message", text);
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      console.error("afb.js: invalid JSON from the binder", e);
      return;
    }
    if (!Array.isArray(msg)) return;
    const [kind, id, body] = msg;
    switch (kind) {
      case RETOK:
      case RETERR: {
        const p = this.pending.get(String(id));
        if (!p) return;
        this.pending.delete(String(id));
        // The token renewed by the verb (an older binder put it 4th).
        const tok = (body && body.request && body.request.token) || (typeof msg[3] === "string" && msg[3]);
        if (tok) this.token = tok;
        if (kind === RETOK) p.resolve(body);
        else p.reject(body);
        break;
      }
      case EVENT:
        this.fire(String(id), body);
        break;
      case CALL:
        this.answer(String(id), String(msg[2]), msg[3]);
        break;
      default:
        break;
    }
  }

  fire(name, body) {
    for (const h of this.handlers.slice()) {
      if (!matchEvent(h.pattern, name)) continue;
      try {
        h.handler(body, name);
      } catch (e) {
        console.error("afb.js: event handler failed", e);
      }
    }
  }

  async answer(id, apiVerb, args) {
    const h = this.callHandlers.find((c) => c.pattern === apiVerb || (c.pattern.includes("*") && matchEvent(c.pattern, apiVerb)));
    let kind = RETOK;
    let reply;
    if (!h) {
      kind = RETERR;
      reply = makeReply("unknown-verb", "this client does not answer " + apiVerb);
    } else {
      try {
        reply = makeReply("success", undefined, await h.handler(args, apiVerb));
      } catch (e) {
        kind = RETERR;
        const status = (e && e.status) || "failed";
        reply = makeReply(status, e && e.message !== undefined ? e.message : String(e));
      }
    }
    this.send(JSON.stringify([kind, id, reply]));
  }
}

/** The AGL AFB.js factory: `AFB(base, initialtoken)` gives
 * `{context, ws, WS}` where `new ws(onopen, onabort)` opens a connection on
 * `ws://HOST/BASE` with the context's token and uuid. */
function legacy(base, initialtoken) {
  let TOKEN = initialtoken;
  let UUID;
  const context = {
    get token() {
      return TOKEN;
    },
    set token(t) {
      if (t) TOKEN = t;
    },
    get uuid() {
      return UUID;
    },
    set uuid(u) {
      if (u) UUID = u;
    },
  };

  function LegacyWS(onopen, onabort) {
    const client = new AfbClient({
      base: base === undefined ? "api" : base,
      token: context.token,
      uuid: context.uuid,
      reconnect: false,
      connect: false,
    });
    this.client = client;
    this.onopen = onopen;
    this.onabort = onabort;
    client.on("open", () => {
      const f = this.onopen;
      delete this.onopen;
      delete this.onabort;
      if (f) f(this);
    });
    client.on("close", () => {
      const f = this.onabort;
      delete this.onopen;
      delete this.onabort;
      if (f) f(this);
      if (this.onclose) this.onclose(this);
    });
    client.on("message", (text) => {
      try {
        const m = JSON.parse(text);
        if (Array.isArray(m) && typeof m[3] === "string" && (m[0] === RETOK || m[0] === RETERR)) context.token = m[3];
        const tok = m && m[2] && m[2].request && m[2].request.token;
        if (tok) context.token = tok;
      } catch (e) {
        // reported by the client
      }
    });
    client.connect();
  }

  LegacyWS.prototype = {
    call(method, request, onsuccess, onfailure) {
      const p = this.client.call(method, request);
      if (onsuccess || onfailure) {
        p.then(
          (r) => onsuccess && onsuccess(r),
          (r) => onfailure && onfailure(r)
        );
      }
      return p;
    },
    onevent(name, handler) {
      return this.client.onevent(name, handler);
    },
    close() {
      this.client.close();
    },
  };

  return { context, ws: LegacyWS, WS: LegacyWS };
}

/** `new AFB({...})` opens a connection (see [`AfbClient`]); `AFB(base,
 * initialtoken)` without `new` is the AGL factory. */
export function AFB(a, b) {
  if (!new.target) return legacy(a, b);
  return new AfbClient(a);
}

AFB.Client = AfbClient;
AFB.makeReply = makeReply;
AFB.matchEvent = matchEvent;

if (typeof globalThis !== "undefined" && globalThis.AFB === undefined) globalThis.AFB = AFB;

export default AFB;
