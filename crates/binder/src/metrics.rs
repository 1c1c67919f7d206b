//! Prometheus/OpenMetrics metrics (`--metrics`, `--metrics-interface`).
//!
//! Counters are atomics kept per API and verb (a verb's are sharded per
//! thread, see `VerbStats`), timed with `clock::Clock`, and encoded at scrape
//! time by a `prometheus-client` collector. A verb gets its series the first
//! time the API answers it with something else than `unknown-verb`, so the
//! names come from the APIs, never from an unknown request path; an API has
//! at most [`MAX_VERBS`] verb series. Status labels come from a fixed list
//! (anything else is `other`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use afb_core::observe::{ReqInfo, ReqState};
use afb_core::{status, Client, Event, Observer, Registry, Reply, Session, Transport};
use hashbrown::HashMap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use serde_json::value::RawValue;

use crate::clock::Clock;

/// Most verb series an API may have.
pub const MAX_VERBS: usize = 512;

/// The status labels (index 0 is `other`).
const STATUSES: [&str; 19] = [
    "other",
    status::SUCCESS,
    status::INTERNAL_ERROR,
    status::OUT_OF_MEMORY,
    status::UNKNOWN_API,
    status::UNKNOWN_VERB,
    status::NOT_AVAILABLE,
    status::UNAUTHORIZED,
    status::INVALID_TOKEN,
    status::FORBIDDEN,
    status::INSUFFICIENT_SCOPE,
    status::BAD_API_STATE,
    status::NOT_REPLIED,
    status::INVALID_REQUEST,
    status::NO_ITEM,
    status::BAD_STATE,
    status::DISCONNECTED,
    status::TIMEOUT,
    "failed",
];
const NS: usize = STATUSES.len();
const NT: usize = Transport::ALL.len();

fn status_index(s: &str) -> usize {
    STATUSES.iter().position(|x| *x == s).unwrap_or(0)
}

/// Upper bounds of the latency buckets, in seconds (then `+Inf`).
pub const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const NB: usize = BUCKETS.len() + 1;

/// [`BUCKETS`] in nanoseconds (compared with the elapsed time as is).
const BUCKETS_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A label value as the text format wants it (`\\`, `\"` and `\n`
/// escaped; the encoder writes values as given), at most 200 characters.
fn label(s: &str) -> Box<str> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().take(200) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.into()
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// Shards of a verb's counters owned by one thread each; the threads that
/// come later share one more shard.
const SHARDS: usize = 32;

/// Where a verb's calls are counted, by one thread (or, for the last shard,
/// by every thread beyond [`SHARDS`]).
struct Counters {
    calls: [[AtomicU64; NS]; NT],
    buckets: [AtomicU64; NB],
    sum_ns: AtomicU64,
}

impl Counters {
    fn new() -> Self {
        Counters {
            calls: std::array::from_fn(|_| zeros()),
            buckets: zeros(),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The next shard to give to a thread that records its first call.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard (`usize::MAX` until its first call).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard: its own below [`SHARDS`] (it is the only writer of
/// that shard, in every verb), or the shared one at [`SHARDS`].
#[inline]
fn shard() -> usize {
    SHARD.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed).min(SHARDS);
            s.set(i);
        }
        i
    })
}

/// The counters of one verb.
///
/// Every call adds to three counters. A locked read-modify-write per add
/// cost `wsj1` 7 % of its throughput (issue 17): a thread that owns its
/// shard adds with a plain load and store instead (no other thread writes
/// there, so no add is lost), and only the threads sharing the last shard
/// pay for `fetch_add`. A scrape sums the shards. A shard is ~0.9 KiB, made
/// on its thread's first call of the verb: a verb called from a few threads
/// (the runtime's workers) has a few.
struct VerbStats {
    /// The verb in lower case (the lookup key).
    key: Box<str>,
    /// Its [`verb_hash`] (compared before the key).
    hash: u64,
    /// The verb as first asked (compared byte for byte before the key,
    /// case ignored: clients usually spell a verb one way).
    spelling: Box<str>,
    /// The label value.
    name: Box<str>,
    /// [`SHARDS`] + 1 shards, each made by its first call.
    shards: Box<[OnceLock<Box<Counters>>]>,
}

impl VerbStats {
    fn new(key: &str, spelling: &str) -> Self {
        VerbStats {
            key: key.into(),
            hash: verb_hash(key),
            spelling: spelling.into(),
            name: label(key),
            shards: (0..=SHARDS).map(|_| OnceLock::new()).collect(),
        }
    }

    fn record(&self, t: Transport, st: usize, elapsed: Duration) {
        let i = shard();
        let Some(slot) = self.shards.get(i) else { return };
        let c = slot.get_or_init(|| Box::new(Counters::new()));
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let b = BUCKETS_NS.iter().position(|&ub| ns <= ub).unwrap_or(BUCKETS_NS.len());
        let counters = [(&c.calls[t.index()][st], 1), (&c.buckets[b], 1), (&c.sum_ns, ns)];
        if i < SHARDS {
            // This thread is the only writer of shard `i`.
            for (a, n) in counters {
                a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
            }
        } else {
            for (a, n) in counters {
                a.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// The sum over the shards of the counter `f` picks.
    fn total(&self, f: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.get())
            .fold(0u64, |acc, c| acc.wrapping_add(get(f(c))))
    }

    fn calls(&self, t: Transport, st: usize) -> u64 {
        self.total(|c| &c.calls[t.index()][st])
    }

    fn bucket(&self, b: usize) -> u64 {
        self.total(|c| &c.buckets[b])
    }

    fn sum_ns(&self) -> u64 {
        self.total(|c| &c.sum_ns)
    }
}

/// Slots of an API's verb table: twice [`MAX_VERBS`], so that a probe
/// always ends on an empty slot.
const VERB_SLOTS: usize = 2 * MAX_VERBS;

/// The verb table's hash of `s`, blind to ASCII case: eight bytes at a
/// time, each byte or-ed with 0x20 (which lower-cases ASCII letters; other
/// bytes may collide, which the comparison sorts out).
fn verb_hash(s: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    const CASE: u64 = 0x2020_2020_2020_2020;
    let b = s.as_bytes();
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        h = (h ^ (w | CASE)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = (h ^ (small_word(rest) | CASE)).wrapping_mul(K);
    }
    // Only the low bits index the table: fold the high ones in.
    h ^ (h >> 29)
}

/// Whether `a` and `b` are the same bytes (a word at a time).
#[inline]
fn same_bytes(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        if u64::from_le_bytes(x.try_into().unwrap_or([0; 8])) != u64::from_le_bytes(y.try_into().unwrap_or([0; 8])) {
            return false;
        }
    }
    // Same length: the remainders have the same length, and their words
    // cover every byte.
    small_word(ca.remainder()) == small_word(cb.remainder())
}

/// 1 to 7 bytes as one word, with at most two loads (the first and last
/// four bytes, or the first, middle and last byte).
#[inline]
fn small_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | (u64::from(hi) << 32)
    } else if n > 0 {
        u64::from(b[0]) | (u64::from(b[n / 2]) << 8) | (u64::from(b[n - 1]) << 16)
    } else {
        0
    }
}

/// A link: its transport and peer.
type LinkKey = (&'static str, String);
/// A link's state: up, and how many times it connected.
type LinkState = (bool, u64);

/// The verbs of one API, kept in the API's entry once resolved
/// ([`ReqInfo::api_slot`]).
///
/// The verbs are an open-addressed table (linear probing) of slots set
/// once and never cleared: a lookup reads slots without a lock, an insert
/// takes `inserting` and fills an empty slot. A lookup that misses a verb
/// being inserted takes the insert path, which finds it.
struct ApiStats {
    name: Box<str>,
    verbs: Box<[OnceLock<Arc<VerbStats>>]>,
    inserting: Mutex<usize>,
    unknown_verb: AtomicU64,
    /// The slot of the verb found last, plus one (0: none).
    hot: AtomicUsize,
}

impl ApiStats {
    fn new(name: &str) -> Self {
        ApiStats {
            name: label(name),
            verbs: (0..VERB_SLOTS).map(|_| OnceLock::new()).collect(),
            inserting: Mutex::new(0),
            unknown_verb: AtomicU64::new(0),
            hot: AtomicUsize::new(0),
        }
    }

    /// The counters of `verb`, or the index of the empty slot that ends its
    /// probe.
    fn find(&self, verb: &str) -> Result<&VerbStats, usize> {
        // The verb found last, spelled the same: no hash.
        let hot = self.hot.load(Ordering::Relaxed);
        if let Some(v) = hot.checked_sub(1).and_then(|i| self.verbs.get(i)).and_then(|s| s.get()) {
            if same_bytes(&v.spelling, verb) {
                return Ok(v);
            }
        }
        let h = verb_hash(verb);
        let mut i = h as usize % VERB_SLOTS;
        for _ in 0..VERB_SLOTS {
            match self.verbs[i].get() {
                Some(v) if v.hash == h && (same_bytes(&v.spelling, verb) || v.key.eq_ignore_ascii_case(verb)) => {
                    // Written only when it changes (the line stays shared
                    // between the cores that call the same verb).
                    if hot != i + 1 {
                        self.hot.store(i + 1, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Some(_) => i = (i + 1) % VERB_SLOTS,
                None => return Err(i),
            }
        }
        Err(VERB_SLOTS)
    }

    /// The counters of `verb`, made when missing and the API has fewer than
    /// [`MAX_VERBS`].
    fn find_or_insert(&self, verb: &str) -> Option<&VerbStats> {
        if let Ok(v) = self.find(verb) {
            return Some(v);
        }
        let mut count = self.inserting.lock().unwrap_or_else(|p| p.into_inner());
        match self.find(verb) {
            Ok(v) => Some(v),
            Err(i) if i < VERB_SLOTS && *count < MAX_VERBS => {
                let v = Arc::new(VerbStats::new(&verb.to_ascii_lowercase(), verb));
                // The slot is empty and only set under `inserting`.
                let _ = self.verbs[i].set(v);
                *count += 1;
                self.verbs[i].get().map(|v| &**v)
            }
            Err(_) => None,
        }
    }

    /// The verbs' counters, sorted by name.
    fn verbs(&self) -> Vec<&VerbStats> {
        let mut vs: Vec<&VerbStats> = self.verbs.iter().filter_map(|s| s.get().map(|v| &**v)).collect();
        vs.sort_by(|x, y| x.name.cmp(&y.name));
        vs
    }
}

/// The metrics of a binder. See the module documentation.
pub struct Metrics {
    registry: Weak<Registry>,
    apis: RwLock<HashMap<u32, Arc<ApiStats>>>,
    refused: [[AtomicU64; NS]; NT],
    events_created: AtomicU64,
    pushes: AtomicU64,
    deliveries: AtomicU64,
    broadcasts: AtomicU64,
    broadcast_deliveries: AtomicU64,
    connections: [AtomicU64; NT],
    connections_open: [AtomicU64; NT],
    overflows: [AtomicU64; NT],
    /// Links to other binders by transport and peer: up, times connected.
    links: std::sync::Mutex<std::collections::BTreeMap<LinkKey, LinkState>>,
    /// What requests are timed with.
    clock: Clock,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Metrics {
    /// Metrics of `registry`'s APIs.
    pub fn new(registry: &Arc<Registry>) -> Arc<Self> {
        Arc::new(Metrics {
            registry: Arc::downgrade(registry),
            apis: RwLock::new(HashMap::new()),
            refused: std::array::from_fn(|_| zeros()),
            events_created: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            broadcasts: AtomicU64::new(0),
            broadcast_deliveries: AtomicU64::new(0),
            connections: zeros(),
            connections_open: zeros(),
            overflows: zeros(),
            links: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            clock: Clock::new(),
        })
    }

    /// A reading of the clock requests are timed with.
    #[inline]
    pub fn ticks(&self) -> u64 {
        self.clock.now()
    }

    /// The time since `began`, an earlier [`Metrics::ticks`].
    #[inline]
    pub fn since(&self, began: u64) -> Duration {
        self.clock.since(began)
    }

    fn api(&self, req: &ReqInfo<'_>) -> Arc<ApiStats> {
        if let Some(a) = read(&self.apis).get(&req.api_id) {
            return a.clone();
        }
        let mut apis = write(&self.apis);
        // An API removed and declared again (a link imported anew, a
        // dynamic API) has a new id: it keeps the series of its name.
        let wanted = label(req.api);
        let same_name = apis.values().find(|a| a.name.eq_ignore_ascii_case(&wanted)).cloned();
        apis.entry(req.api_id)
            .or_insert_with(|| same_name.unwrap_or_else(|| Arc::new(ApiStats::new(req.api))))
            .clone()
    }

    /// A connection of `transport` opened (or closed).
    pub fn connection(&self, t: Transport, opened: bool) {
        if opened {
            self.connections[t.index()].fetch_add(1, Ordering::Relaxed);
            self.connections_open[t.index()].fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = self.connections_open[t.index()]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }

    /// The OpenMetrics text of every series.
    pub fn render(self: &Arc<Self>) -> String {
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &reg) {
            tracing::warn!("encoding the metrics: {e}");
        }
        out
    }
}

impl Observer for Metrics {
    fn ticks(&self) -> Option<u64> {
        Some(self.ticks())
    }

    fn since(&self, began: u64) -> Duration {
        Metrics::since(self, began)
    }

    fn end(&self, req: &ReqInfo<'_>, _state: Option<&ReqState>, reply: &Reply, elapsed: Duration) {
        let slot = req.api_slot.get().and_then(|s| s.downcast_ref::<ApiStats>());
        let resolved;
        let api = match slot {
            Some(a) => a,
            None => {
                // First request of this API: find (or make) its counters and
                // keep them in its entry.
                let a = self.api(req);
                let _ = req.api_slot.set(a.clone());
                resolved = a;
                &*resolved
            }
        };
        if reply.status == status::UNKNOWN_VERB {
            api.unknown_verb.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match api.find_or_insert(req.verb) {
            Some(v) => v.record(req.client.transport, status_index(&reply.status), elapsed),
            None => {
                api.unknown_verb.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn refused(&self, client: &Client, st: &'static str) {
        self.refused[client.transport.index()][status_index(st)].fetch_add(1, Ordering::Relaxed);
    }

    fn event_created(&self, _event: &Event) {
        self.events_created.fetch_add(1, Ordering::Relaxed);
    }

    fn push(&self, _event: &Event, _data: &RawValue, delivered: usize) {
        self.pushes.fetch_add(1, Ordering::Relaxed);
        self.deliveries.fetch_add(delivered as u64, Ordering::Relaxed);
    }

    fn broadcast(&self, _name: &str, _data: &RawValue, listeners: usize) {
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        self.broadcast_deliveries.fetch_add(listeners as u64, Ordering::Relaxed);
    }

    fn session(&self, _session: &Session, _created: bool) {}

    fn overflow(&self, t: Transport) {
        self.overflows[t.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn link(&self, t: Transport, peer: &str, up: bool) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let e = links.entry((t.as_str(), label(peer).into())).or_insert((false, 0));
        if up && !e.0 {
            e.1 += 1;
        }
        e.0 = up;
    }
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let me = enc.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(me)
}

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let me = enc.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(me)
}

/// Resident set size of the process in bytes, from `/proc/self/statm`.
fn rss_bytes() -> Option<i64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(4096))
}

/// Number of open file descriptors, from `/proc/self/fd`.
fn open_fds() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    i64::try_from(n).ok()
}

impl Collector for Metrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut apis: Vec<Arc<ApiStats>> = Vec::new();
        for a in read(&self.apis).values() {
            if !apis.iter().any(|x| Arc::ptr_eq(x, a)) {
                apis.push(a.clone());
            }
        }
        apis.sort_by(|a, b| a.name.cmp(&b.name));
        let all: Vec<(&ApiStats, Vec<&VerbStats>)> = apis.iter().map(|a| (&**a, a.verbs())).collect();

        // Calls by api, verb, transport and status.
        {
            let mut me = enc.encode_descriptor(
                "afb_calls",
                "Requests answered, by API, verb, transport and final status",
                None,
                MetricType::Counter,
            )?;
            for (a, vs) in &all {
                for v in vs {
                    for t in Transport::ALL {
                        for (si, s) in STATUSES.iter().enumerate() {
                            let n = v.calls(t, si);
                            if n == 0 {
                                continue;
                            }
                            let labels = [
                                ("api", &*a.name),
                                ("verb", &*v.name),
                                ("transport", t.as_str()),
                                ("status", *s),
                            ];
                            ConstCounter::new(n).encode(me.encode_family(&labels)?)?;
                        }
                    }
                }
            }
        }
        // Latency histogram by api and verb.
        {
            let mut me = enc.encode_descriptor(
                "afb_call_duration_seconds",
                "Time from a request's dispatch to its reply, by API and verb",
                None,
                MetricType::Histogram,
            )?;
            for (a, vs) in &all {
                for v in vs {
                    let mut buckets: Vec<(f64, u64)> =
                        BUCKETS.iter().enumerate().map(|(i, ub)| (*ub, v.bucket(i))).collect();
                    buckets.push((f64::MAX, v.bucket(BUCKETS.len())));
                    let count: u64 = buckets.iter().map(|b| b.1).sum();
                    let sum = v.sum_ns() as f64 / 1e9;
                    let labels = [("api", &*a.name), ("verb", &*v.name)];
                    me.encode_family(&labels)?
                        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)?;
                }
            }
        }
        {
            let mut me = enc.encode_descriptor(
                "afb_unknown_verb_calls",
                "Requests for a verb the API does not have",
                None,
                MetricType::Counter,
            )?;
            for (a, _) in &all {
                let labels = [("api", &*a.name)];
                ConstCounter::new(get(&a.unknown_verb)).encode(me.encode_family(&labels)?)?;
            }
        }
        {
            let mut me = enc.encode_descriptor(
                "afb_refused_calls",
                "Requests refused before reaching an API (unknown API, not started, too many, too deep)",
                None,
                MetricType::Counter,
            )?;
            for t in Transport::ALL {
                for (si, s) in STATUSES.iter().enumerate() {
                    let n = get(&self.refused[t.index()][si]);
                    if n > 0 {
                        let labels = [("transport", t.as_str()), ("status", *s)];
                        ConstCounter::new(n).encode(me.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let mut me = enc.encode_descriptor(
                "afb_connections",
                "Client connections accepted, by transport",
                None,
                MetricType::Counter,
            )?;
            for t in Transport::ALL {
                let labels = [("transport", t.as_str())];
                ConstCounter::new(get(&self.connections[t.index()])).encode(me.encode_family(&labels)?)?;
            }
            let mut me = enc.encode_descriptor(
                "afb_connections_open",
                "Client connections open now, by transport",
                None,
                MetricType::Gauge,
            )?;
            for t in Transport::ALL {
                let labels = [("transport", t.as_str())];
                let v = i64::try_from(get(&self.connections_open[t.index()])).unwrap_or(i64::MAX);
                ConstGauge::new(v).encode(me.encode_family(&labels)?)?;
            }
        }
        {
            let mut me = enc.encode_descriptor(
                "afb_send_queue_overflows",
                "Clients dropped because they did not read (send queue full), by transport",
                None,
                MetricType::Counter,
            )?;
            for t in Transport::ALL {
                let labels = [("transport", t.as_str())];
                ConstCounter::new(get(&self.overflows[t.index()])).encode(me.encode_family(&labels)?)?;
            }
        }
        {
            let links: Vec<(LinkKey, LinkState)> = self
                .links
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            let mut me = enc.encode_descriptor(
                "afb_link_up",
                "Whether the link of a --ws-client or --rpc-client is connected (1) or not (0)",
                None,
                MetricType::Gauge,
            )?;
            for ((t, peer), (up, _)) in &links {
                let labels = [("transport", *t), ("peer", peer.as_str())];
                ConstGauge::new(i64::from(*up)).encode(me.encode_family(&labels)?)?;
            }
            let mut me = enc.encode_descriptor(
                "afb_link_connects",
                "Times the link of a --ws-client or --rpc-client connected",
                None,
                MetricType::Counter,
            )?;
            for ((t, peer), (_, n)) in &links {
                let labels = [("transport", *t), ("peer", peer.as_str())];
                ConstCounter::new(*n).encode(me.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut enc,
            "afb_events_created",
            "Events created by the APIs",
            get(&self.events_created),
        )?;
        counter(&mut enc, "afb_event_pushes", "Events pushed", get(&self.pushes))?;
        counter(
            &mut enc,
            "afb_event_deliveries",
            "Event pushes delivered to subscribers (one per subscriber)",
            get(&self.deliveries),
        )?;
        counter(&mut enc, "afb_broadcasts", "Events broadcast", get(&self.broadcasts))?;
        counter(
            &mut enc,
            "afb_broadcast_deliveries",
            "Broadcasts delivered to listeners (one per listener)",
            get(&self.broadcast_deliveries),
        )?;
        if let Some(r) = self.registry.upgrade() {
            gauge(
                &mut enc,
                "afb_sessions",
                "Sessions alive",
                i64::try_from(r.sessions().len()).unwrap_or(i64::MAX),
            )?;
            counter(
                &mut enc,
                "afb_sessions_created",
                "Sessions created",
                r.sessions().created(),
            )?;
            counter(
                &mut enc,
                "afb_sessions_evicted",
                "Sessions evicted to make room",
                r.sessions().evictions(),
            )?;
            gauge(
                &mut enc,
                "afb_requests_in_progress",
                "Requests being processed",
                i64::try_from(r.inflight()).unwrap_or(i64::MAX),
            )?;
        }
        if let Some(v) = rss_bytes() {
            gauge(
                &mut enc,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                v,
            )?;
        }
        if let Some(v) = open_fds() {
            gauge(&mut enc, "process_open_fds", "Number of open file descriptors", v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_agree() {
        for (s, ns) in BUCKETS.iter().zip(BUCKETS_NS) {
            assert_eq!((s * 1e9).round() as u64, ns);
        }
    }

    #[test]
    fn a_call_lands_in_its_bucket_and_the_sum() {
        let v = VerbStats::new("v", "v");
        v.record(Transport::Http, 1, Duration::from_micros(300));
        v.record(Transport::Http, 1, Duration::from_micros(500));
        v.record(Transport::Http, 0, Duration::from_secs(11));
        assert_eq!(v.bucket(2), 2, "(250 µs, 500 µs]");
        assert_eq!(v.bucket(NB - 1), 1, "+Inf");
        assert_eq!(v.sum_ns(), 11_000_800_000);
        assert_eq!(v.calls(Transport::Http, 1), 2);
        assert_eq!(status_index("success"), 1);
        assert_eq!(status_index("made-up"), 0);
        assert_eq!(&*label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn calls_from_more_threads_than_shards_are_all_counted() {
        // Threads beyond SHARDS (this test's and the other tests' threads
        // all take shards) share the last shard: no add may be lost on
        // either kind of shard.
        let v = Arc::new(VerbStats::new("v", "v"));
        let threads: Vec<_> = (0..SHARDS + 8)
            .map(|_| {
                let v = v.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        v.record(Transport::WsJson, 1, Duration::from_micros(50));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("recording thread");
        }
        let n = (SHARDS as u64 + 8) * 1000;
        assert_eq!(v.calls(Transport::WsJson, 1), n);
        assert_eq!(v.bucket(0), n, "(0, 100 µs]");
        assert_eq!(v.sum_ns(), n * 50_000);
        assert!(v.shards[SHARDS].get().is_some(), "the shared shard was used");
    }

    #[test]
    fn the_verb_table_ignores_case_and_holds_max_verbs() {
        assert_eq!(verb_hash("Ping"), verb_hash("ping"));
        for (a, b, same) in [
            ("ping", "ping", true),
            ("ping", "pinG", false),
            ("a", "b", false),
            ("abc", "abd", false),
            ("abcdefgh-1", "abcdefgh-1", true),
            ("abcdefgh-1", "abcdefgX-1", false),
            ("abcdefgh-1", "abcdefgh-2", false),
            ("", "", true),
            ("ab", "abc", false),
        ] {
            assert_eq!(same_bytes(a, b), same, "{a} {b}");
        }
        assert_eq!(verb_hash("A-Long_Verb.Name9"), verb_hash("a-long_verb.name9"));
        let a = ApiStats::new("demo");
        let names: Vec<String> = (0..MAX_VERBS).map(|i| format!("Verb{i}")).collect();
        for n in &names {
            let v = a.find_or_insert(n).expect("room for it");
            assert_eq!(&*v.key, n.to_ascii_lowercase().as_str());
        }
        assert!(a.find_or_insert("one-too-many").is_none(), "bounded");
        for n in &names {
            // Found again, whatever the case, without inserting.
            let v = a.find(&n.to_ascii_uppercase()).expect("found");
            assert!(v.key.eq_ignore_ascii_case(n));
        }
        assert_eq!(a.verbs().len(), MAX_VERBS);
        assert!(a.find("absent").is_err());
        // The verb found last is found again first, and only when spelled
        // the same: another verb or spelling goes through the table.
        let seven: *const VerbStats = a.find("Verb7").expect("found");
        assert!(std::ptr::eq(a.find("Verb7").expect("hot"), seven));
        assert!(std::ptr::eq(a.find("VERB7").expect("by case"), seven));
        assert!(a.find("Verb8").is_ok_and(|v| !std::ptr::eq(v, seven)));
        assert!(a.find("Verb77x").is_err());
    }

    fn reply(status: &'static str) -> Reply {
        if status == "success" {
            Reply::success(None, None)
        } else {
            Reply::error(status, None)
        }
    }

    #[tokio::test]
    async fn an_api_declared_again_keeps_its_series_and_unknown_verbs_make_none() {
        let reg = Registry::new(afb_core::RegistryConfig::default());
        let m = Metrics::new(&reg);
        let session = reg.sessions().create().unwrap();
        let client = Client::new(session).with_transport(Transport::WsJson);
        let args = afb_core::Args::null();
        let (slot7, slot9) = (afb_core::observe::ApiSlot::new(), afb_core::observe::ApiSlot::new());
        let info = |api_id, verb| ReqInfo {
            id: 1,
            api: "demo",
            api_id,
            api_slot: if api_id == 7 { &slot7 } else { &slot9 },
            verb,
            args: &args,
            client: &client,
        };
        for (api_id, verb, st) in [
            (7, "go", "success"),
            (7, "go", "failed"),
            (7, "nope", "unknown-verb"),
            (9, "go", "success"),
            (9, "Go", "success"),
        ] {
            let i = info(api_id, verb);
            let state = m.begin(&i);
            m.end(&i, state.as_ref(), &reply(st), Duration::from_millis(1));
        }
        let text = m.render();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("afb_calls_total{")).collect();
        assert_eq!(
            lines,
            vec![
                r#"afb_calls_total{api="demo",verb="go",transport="wsj1",status="success"} 3"#,
                r#"afb_calls_total{api="demo",verb="go",transport="wsj1",status="failed"} 1"#,
            ],
            "{text}"
        );
        assert!(text.contains(r#"afb_unknown_verb_calls_total{api="demo"} 1"#), "{text}");
        assert!(!text.contains("nope"), "{text}");
        assert!(
            text.contains(r#"afb_call_duration_seconds_count{api="demo",verb="go"} 4"#),
            "{text}"
        );
        assert_eq!(text.matches("afb_call_duration_seconds_count").count(), 1, "{text}");
    }
}
