//! Access control: the rule trees put on verbs (the C `struct afb_auth`
//! trees, the SDK builder, the JSON form of config files), their
//! evaluation before a verb runs, and the permission backends that answer
//! their `Permission` nodes.
//!
//! A refused request is answered `invalid-token` when the rule needed the
//! session's token and the request did not present it (HTTP 401), else
//! `insufficient-scope` (HTTP 403), as the C binders do.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};

use serde_json::{json, Map, Value};

use crate::api::BoxFuture;
use crate::args::Args;
use crate::auth::{Auth, Loa};
pub use crate::info::AuthRule;
use crate::reply::Reply;
use crate::request::{Credentials, ReqHandle};
use crate::status;

/// The permission that is answered by the token check, not the backend.
pub const TOKEN_VALID: &str = "urn:redpesk:token:valid";

/// The permission a peer needs for its requests to carry the credentials
/// of another client (links between binders).
pub const ON_BEHALF_CREDENTIALS: &str = "urn:redpesk:permission:*:partner:on-behalf-credentials";

/// Deepest rule tree accepted (C trees and JSON rules alike).
pub const MAX_DEPTH: u32 = 32;

// ---- builder ------------------------------------------------------------------

impl AuthRule {
    /// A permission, by name.
    pub fn perm(name: impl Into<String>) -> Self {
        AuthRule::Permission(name.into())
    }

    /// The session's LOA must be at least `n`.
    pub fn loa(n: u32) -> Self {
        AuthRule::Loa(n)
    }

    /// Either this rule or `other`.
    pub fn or(self, other: impl Into<AuthRule>) -> Self {
        AuthRule::Or(Box::new(self), Box::new(other.into()))
    }

    /// This rule and `other`.
    pub fn and(self, other: impl Into<AuthRule>) -> Self {
        AuthRule::And(Box::new(self), Box::new(other.into()))
    }

    /// The rule as the JSON form of config files.
    pub fn to_json(&self) -> Value {
        match self {
            AuthRule::No => Value::Bool(false),
            AuthRule::Yes => Value::Bool(true),
            AuthRule::Token => json!({"token": true}),
            AuthRule::Loa(n) => json!({ "LOA": n }),
            AuthRule::Permission(p) => json!({ "permission": p }),
            AuthRule::Or(..) => {
                let mut list = Vec::new();
                flatten(self, true, &mut list);
                json!({ "anyOf": list })
            }
            AuthRule::And(..) => {
                let mut list = Vec::new();
                flatten(self, false, &mut list);
                json!({ "allOf": list })
            }
            AuthRule::Not(a) => json!({ "not": a.to_json() }),
        }
    }

    /// Whether the rule contains a permission node (needs the backend).
    pub fn has_permission(&self) -> bool {
        match self {
            AuthRule::Permission(_) => true,
            AuthRule::Or(a, b) | AuthRule::And(a, b) => a.has_permission() || b.has_permission(),
            AuthRule::Not(a) => a.has_permission(),
            _ => false,
        }
    }
}

fn flatten(r: &AuthRule, or: bool, out: &mut Vec<Value>) {
    match (r, or) {
        (AuthRule::Or(a, b), true) | (AuthRule::And(a, b), false) => {
            flatten(a, or, out);
            flatten(b, or, out);
        }
        _ => out.push(r.to_json()),
    }
}

impl std::ops::Not for AuthRule {
    type Output = AuthRule;

    fn not(self) -> AuthRule {
        AuthRule::Not(Box::new(self))
    }
}

impl From<Auth> for AuthRule {
    /// The session requirements as a rule: the token when required, then
    /// the LOA (`at most n` is `not LOA n+1`).
    fn from(a: Auth) -> Self {
        let loa = match a.loa {
            Some(Loa::AtLeast(n)) => Some(AuthRule::Loa(n.into())),
            Some(Loa::AtMost(n)) => Some(!AuthRule::Loa(u32::from(n) + 1)),
            Some(Loa::Exactly(n)) => Some(AuthRule::Loa(n.into()).and(!AuthRule::Loa(u32::from(n) + 1))),
            None => None,
        };
        match (a.needs_token(), loa) {
            (true, Some(l)) => AuthRule::Token.and(l),
            (true, None) => AuthRule::Token,
            (false, Some(l)) => l,
            (false, None) => AuthRule::Yes,
        }
    }
}

impl Auth {
    /// A rule requiring a permission (the start of a rule tree:
    /// `Auth::perm("urn:x").or(Auth::loa(2))`).
    pub fn perm(name: impl Into<String>) -> AuthRule {
        AuthRule::perm(name)
    }
}

// ---- JSON form ----------------------------------------------------------------

/// Why a JSON rule is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

/// Named rules (`"acls"` of config files), referred to as `"#name"`.
pub type NamedRules = HashMap<String, AuthRule>;

/// Parses the JSON form of a rule:
/// `true`/`false`, `"#name"` (a named rule), `"permission-text"`, an array
/// (all of), or an object whose keys all hold: `"LOA": n`, `"token": true`,
/// `"permission": "text"`, `"AnyOf"`/`"anyOf"`/`"or": [..]`,
/// `"AllOf"`/`"allOf"`/`"and": [..]`, `"Unless"`/`"not": rule`.
/// Unknown keys, bad values and unknown names are errors.
pub fn parse_rule(v: &Value, named: &NamedRules) -> Result<AuthRule, RuleError> {
    parse_at(v, named, 0)
}

fn all_of(mut rules: Vec<AuthRule>, empty: AuthRule, or: bool) -> AuthRule {
    let Some(mut acc) = rules.pop() else {
        return empty;
    };
    while let Some(r) = rules.pop() {
        acc = if or { r.or(acc) } else { r.and(acc) };
    }
    acc
}

fn parse_list(v: &Value, named: &NamedRules, depth: u32, key: &str) -> Result<Vec<AuthRule>, RuleError> {
    let Value::Array(a) = v else {
        return Err(RuleError(format!("{key:?} needs an array of rules")));
    };
    a.iter().map(|x| parse_at(x, named, depth + 1)).collect()
}

fn parse_at(v: &Value, named: &NamedRules, depth: u32) -> Result<AuthRule, RuleError> {
    if depth > MAX_DEPTH {
        return Err(RuleError(format!("rule nested more than {MAX_DEPTH} levels deep")));
    }
    match v {
        Value::Bool(true) => Ok(AuthRule::Yes),
        Value::Bool(false) => Ok(AuthRule::No),
        Value::String(s) => match s.strip_prefix('#') {
            Some(name) => named
                .get(name)
                .cloned()
                .ok_or_else(|| RuleError(format!("unknown named rule {s:?}"))),
            None if s.is_empty() => Err(RuleError("empty permission".into())),
            None => Ok(AuthRule::Permission(s.clone())),
        },
        Value::Array(_) => Ok(all_of(parse_list(v, named, depth, "and")?, AuthRule::Yes, false)),
        Value::Object(o) => {
            let mut parts = Vec::new();
            for (k, x) in o {
                parts.push(match k.as_str() {
                    "LOA" | "loa" => {
                        let n = x
                            .as_u64()
                            .filter(|n| *n <= u64::from(crate::auth::LOA_MAX))
                            .ok_or_else(|| RuleError(format!("\"LOA\" needs an integer 0..=7, not {x}")))?;
                        AuthRule::Loa(n as u32)
                    }
                    "token" => match x {
                        Value::Bool(true) => AuthRule::Token,
                        Value::Bool(false) => AuthRule::Yes,
                        _ => return Err(RuleError(format!("\"token\" needs true or false, not {x}"))),
                    },
                    "permission" => match x {
                        Value::String(s) if !s.is_empty() => AuthRule::Permission(s.clone()),
                        _ => return Err(RuleError(format!("\"permission\" needs a text, not {x}"))),
                    },
                    "AnyOf" | "anyOf" | "or" => all_of(parse_list(x, named, depth, k)?, AuthRule::No, true),
                    "AllOf" | "allOf" | "and" => all_of(parse_list(x, named, depth, k)?, AuthRule::Yes, false),
                    "Unless" | "unless" | "not" => !parse_at(x, named, depth + 1)?,
                    _ => return Err(RuleError(format!("unknown key {k:?} in a rule"))),
                });
            }
            if parts.is_empty() {
                return Err(RuleError("empty rule object".into()));
            }
            Ok(all_of(parts, AuthRule::Yes, false))
        }
        _ => Err(RuleError(format!("a rule cannot be {v}"))),
    }
}

/// Parses named rules (`"acls": {"name": rule, ..}`); a rule may refer
/// to other names, in any order, but not in a cycle.
pub fn parse_named(v: &Map<String, Value>) -> Result<NamedRules, RuleError> {
    let mut named = NamedRules::new();
    let mut todo: Vec<(&String, &Value)> = v.iter().collect();
    while !todo.is_empty() {
        let mut left = Vec::new();
        let mut first_error = None;
        for (k, x) in todo.iter().copied() {
            match parse_rule(x, &named) {
                Ok(r) => {
                    named.insert(k.clone(), r);
                }
                Err(e) => {
                    first_error.get_or_insert(RuleError(format!("acl {k:?}: {e}")));
                    left.push((k, x));
                }
            }
        }
        if left.len() == todo.len() {
            return Err(first_error.unwrap_or_else(|| RuleError("acls: no progress".into())));
        }
        todo = left;
    }
    Ok(named)
}

// ---- permission backends ---------------------------------------------------------------

/// One permission question: may this client do this?
#[derive(Debug, Clone)]
pub struct PermissionQuery {
    /// The permission asked.
    pub permission: String,
    /// The client's credentials, when the transport knows them.
    pub creds: Option<Arc<Credentials>>,
    /// The session's uuid.
    pub session: String,
    /// The session's LOA for the API called.
    pub loa: u8,
}

impl PermissionQuery {
    /// The client's name for policy services: its security label, else
    /// its certificate subject, else `NoLabel` for a known process (as the
    /// C binders), else empty.
    pub fn client(&self) -> String {
        match &self.creds {
            Some(c) => match (&c.label, &c.cert) {
                (Some(l), _) => l.clone(),
                (None, Some(cert)) => cert.subject.clone(),
                _ if c.has_process() => NO_LABEL.to_owned(),
                _ => String::new(),
            },
            None => String::new(),
        }
    }

    /// The client's user for policy services: its uid in decimal, empty
    /// when unknown.
    pub fn user(&self) -> String {
        match &self.creds {
            Some(c) if c.has_process() => c.uid.to_string(),
            _ => String::new(),
        }
    }
}

/// Answers permission questions. An error is a refusal (fail closed),
/// logged by the caller.
pub trait PermissionBackend: Send + Sync {
    /// What the start log says of it.
    fn describe(&self) -> String;
    /// Whether the permission is granted.
    fn check(&self, q: PermissionQuery) -> BoxFuture<Result<bool, String>>;
}

/// Grants every permission (development only: stated in the start log).
#[derive(Debug, Default, Clone, Copy)]
pub struct GrantAll;

impl PermissionBackend for GrantAll {
    fn describe(&self) -> String {
        "grant-all: every permission is granted to every client (development only)".into()
    }

    fn check(&self, _q: PermissionQuery) -> BoxFuture<Result<bool, String>> {
        Box::pin(std::future::ready(Ok(true)))
    }
}

/// Refuses every permission: the default when no backend is chosen.
#[derive(Debug, Default, Clone, Copy)]
pub struct DenyAll;

impl PermissionBackend for DenyAll {
    fn describe(&self) -> String {
        "deny-all: no permission is granted (choose a backend with --permissions)".into()
    }

    fn check(&self, _q: PermissionQuery) -> BoxFuture<Result<bool, String>> {
        Box::pin(std::future::ready(Ok(false)))
    }
}

/// Asks a verb of the binder's own APIs (`perm/check` by default) with
/// `{"client","user","session","permission"}`: a success whose response
/// is not `false` grants; anything else refuses (the service missing,
/// not started, gone or too slow is also logged).
pub struct ApiBackend {
    registry: Weak<crate::registry::Registry>,
    api: String,
    verb: String,
}

impl ApiBackend {
    /// A backend asking `api/verb` of `registry`.
    pub fn new(registry: &Arc<crate::registry::Registry>, api: &str, verb: &str) -> Self {
        ApiBackend {
            registry: Arc::downgrade(registry),
            api: api.to_owned(),
            verb: verb.to_owned(),
        }
    }
}

impl PermissionBackend for ApiBackend {
    fn describe(&self) -> String {
        format!("api: permissions are asked of {}/{}", self.api, self.verb)
    }

    fn check(&self, q: PermissionQuery) -> BoxFuture<Result<bool, String>> {
        let Some(reg) = self.registry.upgrade() else {
            return Box::pin(std::future::ready(Err("the binder is shutting down".into())));
        };
        let args = json!({
            "client": q.client(),
            "user": q.user(),
            "session": q.session,
            "permission": q.permission,
        });
        let session = crate::session::Session::detached(None);
        let call = crate::registry::Call::internal(
            &self.api,
            &self.verb,
            Args::from_value(args),
            crate::request::Client::new(session),
            None,
        );
        let reply = reg.call(call);
        let what = format!("{}/{}", self.api, self.verb);
        Box::pin(async move {
            let r = reply.await;
            if r.is_success() {
                return Ok(r.data.as_deref().is_none_or(|d| d.get().trim() != "false"));
            }
            // The verb's own error is a refusal; the service missing or
            // failing is an error (both refuse).
            match &*r.status {
                status::UNKNOWN_API
                | status::UNKNOWN_VERB
                | status::BAD_API_STATE
                | status::NOT_AVAILABLE
                | status::TIMEOUT
                | status::DISCONNECTED
                | status::NOT_REPLIED => Err(format!("{what} answered {}", r.status)),
                _ => Ok(false),
            }
        })
    }
}

/// One rule of a policy file: who (every key given must hold), which
/// permissions (globs), and the decision.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// The peer's uid.
    #[serde(default)]
    pub uid: Option<u32>,
    /// The peer's gid.
    #[serde(default)]
    pub gid: Option<u32>,
    /// The peer's security label (glob).
    #[serde(default)]
    pub label: Option<String>,
    /// The peer's TLS certificate subject (glob).
    #[serde(default)]
    pub cert: Option<String>,
    /// The session's LOA is at least this.
    #[serde(default)]
    pub loa: Option<u8>,
    /// The permissions (globs: `*` any run, `?` one character).
    pub permission: OneOrMany,
    /// `allow` or `deny`.
    pub decision: Decision,
}

/// A text or a list of texts.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            OneOrMany::One(s) => f(s),
            OneOrMany::Many(v) => v.iter().any(|s| f(s)),
        }
    }
}

/// A policy rule's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Granted.
    Allow,
    /// Refused.
    Deny,
}

/// A policy file: `{"rules": [..]}`, first match wins, no match refuses.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The rules, in order.
    pub rules: Vec<PolicyRule>,
}

impl Policy {
    /// Reads a policy from its JSON value (unknown keys are errors).
    pub fn from_value(v: Value) -> Result<Policy, RuleError> {
        serde_json::from_value(v).map_err(|e| RuleError(e.to_string()))
    }

    /// The decision for `q` (`Deny` when no rule matches).
    pub fn decide(&self, q: &PermissionQuery) -> Decision {
        let c = q.creds.as_deref();
        let process = c.filter(|c| c.has_process());
        for r in &self.rules {
            let ok = r.uid.is_none_or(|u| process.is_some_and(|c| c.uid == u))
                && r.gid.is_none_or(|g| process.is_some_and(|c| c.gid == g))
                && r.label.as_deref().is_none_or(|l| {
                    c.and_then(|c| c.label.as_deref())
                        .is_some_and(|x| crate::name::glob_match(l, x))
                })
                && r.cert.as_deref().is_none_or(|p| {
                    c.and_then(|c| c.cert.as_deref())
                        .is_some_and(|x| crate::name::glob_match(p, &x.subject))
                })
                && r.loa.is_none_or(|n| q.loa >= n)
                && r.permission.any(|p| crate::name::glob_match(p, &q.permission));
            if ok {
                return r.decision;
            }
        }
        Decision::Deny
    }
}

/// The policy-file backend; its policy can be replaced (reload).
pub struct PolicyBackend {
    source: String,
    policy: RwLock<Arc<Policy>>,
}

impl PolicyBackend {
    /// A backend applying `policy`, read from `source` (for the log).
    pub fn new(source: impl Into<String>, policy: Policy) -> Self {
        PolicyBackend {
            source: source.into(),
            policy: RwLock::new(Arc::new(policy)),
        }
    }

    /// Replaces the policy.
    pub fn replace(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    /// The current policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl PermissionBackend for PolicyBackend {
    fn describe(&self) -> String {
        format!(
            "policy file {}: {} rule(s), first match wins, no match refuses",
            self.source,
            self.policy().rules.len()
        )
    }

    fn check(&self, q: PermissionQuery) -> BoxFuture<Result<bool, String>> {
        let d = self.policy().decide(&q);
        Box::pin(std::future::ready(Ok(d == Decision::Allow)))
    }
}

/// A rule the integrator adds to the verbs `api/verb` (globs) of any
/// binding (`--auth`, config key `auth`): it must hold, besides the verb's
/// own rules, before the verb runs.
#[derive(Debug, Clone)]
pub struct VerbRule {
    /// API name glob (`*`, `?`, ASCII case ignored).
    pub api: String,
    /// Verb name glob.
    pub verb: String,
    /// The rule.
    pub rule: Arc<AuthRule>,
}

/// The binder's access control: its permission backend (replaceable,
/// e.g. on reload) and the integrator's verb rules.
pub struct AccessControl {
    backend: RwLock<Arc<dyn PermissionBackend>>,
    verb_rules: std::sync::OnceLock<Vec<VerbRule>>,
}

impl Default for AccessControl {
    fn default() -> Self {
        AccessControl {
            backend: RwLock::new(Arc::new(DenyAll)),
            verb_rules: std::sync::OnceLock::new(),
        }
    }
}

impl fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessControl")
            .field("backend", &self.backend().describe())
            .finish()
    }
}

impl AccessControl {
    /// The backend.
    pub fn backend(&self) -> Arc<dyn PermissionBackend> {
        self.backend.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the backend.
    pub fn set_backend(&self, b: Arc<dyn PermissionBackend>) {
        *self.backend.write().unwrap_or_else(|p| p.into_inner()) = b;
    }

    /// Sets the integrator's verb rules (once, before serving; later calls
    /// return false).
    pub fn set_verb_rules(&self, rules: Vec<VerbRule>) -> bool {
        self.verb_rules.set(rules).is_ok()
    }

    /// The integrator's rule for `api/verb`: all the matching rules (and-ed),
    /// `None` when none matches.
    #[inline]
    pub fn verb_rule(&self, api: &str, verb: &str) -> Option<Arc<AuthRule>> {
        let rules = self.verb_rules.get()?;
        let mut found: Option<AuthRule> = None;
        for r in rules {
            if crate::name::glob_match(&r.api, api) && crate::name::glob_match(&r.verb, verb) {
                let rule = (*r.rule).clone();
                found = Some(match found {
                    None => rule,
                    Some(f) => f.and(rule),
                });
            }
        }
        found.map(Arc::new)
    }
}

/// Parses `API/VERB=RULE` (the `--auth` form; RULE in the JSON form, or a
/// bare `#name` or permission): the globs and the rule, names resolved in
/// `named`.
pub fn parse_verb_rule(text: &str, named: &NamedRules) -> Result<VerbRule, RuleError> {
    let (target, rule) = text
        .split_once('=')
        .ok_or_else(|| RuleError(format!("{text:?}: expected API/VERB=RULE")))?;
    let (api, verb) = target
        .split_once('/')
        .ok_or_else(|| RuleError(format!("{target:?}: expected API/VERB (globs allowed)")))?;
    if api.is_empty() || verb.is_empty() {
        return Err(RuleError(format!("{target:?}: expected API/VERB (globs allowed)")));
    }
    let v: Value = serde_json::from_str(rule).unwrap_or_else(|_| Value::String(rule.to_owned()));
    let rule = parse_rule(&v, named).map_err(|e| RuleError(format!("{target}: {}", e.0)))?;
    Ok(VerbRule {
        api: api.to_owned(),
        verb: verb.to_owned(),
        rule: Arc::new(rule),
    })
}

// ---- evaluation ---------------------------------------------------------------

struct Ctx {
    token_ok: bool,
    loa: u8,
    query: PermissionQuery,
    backend: Arc<dyn PermissionBackend>,
}

type Eval<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

async fn ask(ctx: &Ctx, permission: &str) -> bool {
    if permission == TOKEN_VALID {
        return ctx.token_ok;
    }
    let mut q = ctx.query.clone();
    q.permission = permission.to_owned();
    match ctx.backend.check(q).await {
        Ok(granted) => granted,
        Err(e) => {
            tracing::warn!(permission, "permission refused: the backend failed: {e}");
            false
        }
    }
}

fn eval<'a>(ctx: &'a Ctx, r: &'a AuthRule, depth: u32) -> Eval<'a> {
    Box::pin(async move {
        if depth > MAX_DEPTH {
            return false;
        }
        match r {
            AuthRule::No => false,
            AuthRule::Yes => true,
            AuthRule::Token => ctx.token_ok,
            AuthRule::Loa(n) => u32::from(ctx.loa) >= *n,
            AuthRule::Permission(p) => ask(ctx, p).await,
            AuthRule::Or(a, b) => eval(ctx, a, depth + 1).await || eval(ctx, b, depth + 1).await,
            AuthRule::And(a, b) => eval(ctx, a, depth + 1).await && eval(ctx, b, depth + 1).await,
            AuthRule::Not(a) => !eval(ctx, a, depth + 1).await,
        }
    })
}

/// Whether the rule cannot hold without the token (a `Token` node on
/// every way to grant).
fn requires_token(r: &AuthRule) -> bool {
    match r {
        AuthRule::Token => true,
        AuthRule::Permission(p) => p == TOKEN_VALID,
        AuthRule::Or(a, b) => requires_token(a) && requires_token(b),
        AuthRule::And(a, b) => requires_token(a) || requires_token(b),
        _ => false,
    }
}

/// The question about `req`'s client, for `permission`.
pub fn query_of(req: &ReqHandle, permission: &str) -> PermissionQuery {
    PermissionQuery {
        permission: permission.to_owned(),
        creds: req.client().creds.clone(),
        session: req.session().uuid().to_owned(),
        loa: req.loa(),
    }
}

/// Checks one permission for `req`'s client through the registry's
/// backend (`urn:redpesk:token:valid` is the token check).
pub fn check_permission(req: &ReqHandle, permission: &str) -> impl Future<Output = bool> + Send + 'static {
    let ctx = Ctx {
        token_ok: req.session().check_token(req.client().token.as_deref()),
        loa: req.loa(),
        query: query_of(req, permission),
        backend: req.registry().access().backend(),
    };
    let permission = permission.to_owned();
    async move { ask(&ctx, &permission).await }
}

/// Whether a link peer with `peer` credentials may pass the credentials
/// of its own clients: asks the backend for [`ON_BEHALF_CREDENTIALS`].
pub fn may_act_on_behalf(
    registry: &crate::registry::Registry,
    peer: Option<Arc<Credentials>>,
) -> impl Future<Output = bool> + Send + 'static {
    let ctx = Ctx {
        token_ok: false,
        loa: 0,
        query: PermissionQuery {
            permission: String::new(),
            creds: peer,
            session: String::new(),
            loa: 0,
        },
        backend: registry.access().backend(),
    };
    async move { ask(&ctx, ON_BEHALF_CREDENTIALS).await }
}

/// Evaluates `rule` for `req`; the error is the reply to give instead of
/// running the verb.
pub fn check_rule(req: &ReqHandle, rule: &Arc<AuthRule>) -> impl Future<Output = Result<(), Reply>> + Send + 'static {
    let token_ok = req.session().check_token(req.client().token.as_deref());
    let ctx = Ctx {
        token_ok,
        loa: req.loa(),
        query: query_of(req, ""),
        backend: req.registry().access().backend(),
    };
    let rule = rule.clone();
    async move {
        if eval(&ctx, &rule, 0).await {
            Ok(())
        } else if !token_ok && requires_token(&rule) {
            Err(Reply::error(status::INVALID_TOKEN, Some("invalid token".into())))
        } else {
            Err(Reply::error(status::INSUFFICIENT_SCOPE, Some("access refused".into())))
        }
    }
}

// ---- who is calling ----------------------------------------------------------------

/// The label of a peer whose security label is unknown (as the C binders).
pub const NO_LABEL: &str = "NoLabel";

/// What `afb_req_get_client_info` answers: `uid`, `gid`, `pid`, `user`
/// (the uid in decimal), `label`, `id` (the label after its last `:`)
/// when the peer's process is known, with `uuid` and `LOA` of the
/// session; a TLS peer's certificate subject as `cert-subject`; a TCP
/// peer's address and port as `remote` (`"127.0.0.1:5678"`, `"[::1]:5678"`).
pub fn client_info(req: &ReqHandle) -> Value {
    let mut v = Map::new();
    if let Some(c) = &req.client().creds {
        if c.has_process() {
            let label = c.label.as_deref().unwrap_or(NO_LABEL);
            v.insert("uid".into(), c.uid.into());
            v.insert("gid".into(), c.gid.into());
            v.insert("pid".into(), c.pid.into());
            v.insert("user".into(), c.uid.to_string().into());
            v.insert("label".into(), label.into());
            v.insert("id".into(), label.rsplit(':').next().unwrap_or(label).into());
        }
        if let Some(cert) = &c.cert {
            v.insert("cert-subject".into(), cert.subject.clone().into());
        }
    }
    if let Some(a) = req.client().remote {
        v.insert("remote".into(), a.to_string().into());
    }
    v.insert("uuid".into(), req.session().uuid().into());
    v.insert("LOA".into(), req.loa().into());
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: Value) -> Result<AuthRule, RuleError> {
        parse_rule(&v, &NamedRules::new())
    }

    #[test]
    fn json_forms() {
        assert_eq!(p(json!({"LOA": 2})), Ok(AuthRule::Loa(2)));
        assert_eq!(p(json!({"token": true})), Ok(AuthRule::Token));
        assert_eq!(p(json!("urn:a")), Ok(AuthRule::perm("urn:a")));
        assert_eq!(
            p(json!({"AnyOf": ["urn:a", {"permission": "urn:b"}]})),
            Ok(AuthRule::perm("urn:a").or(AuthRule::perm("urn:b")))
        );
        assert_eq!(
            p(json!({"and": [{"LOA": 1}, {"not": "urn:x"}]})),
            Ok(AuthRule::Loa(1).and(!AuthRule::perm("urn:x")))
        );
        assert_eq!(p(json!({"Unless": false})), Ok(!AuthRule::No));
        assert_eq!(p(json!(true)), Ok(AuthRule::Yes));
        let named = parse_named(
            json!({"admin": {"LOA": 3}, "either": {"or": ["#admin", "urn:y"]}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            parse_rule(&json!("#either"), &named),
            Ok(AuthRule::Loa(3).or(AuthRule::perm("urn:y")))
        );
    }

    #[test]
    fn verb_rules_match_by_globs_and_combine() {
        let named = parse_named(json!({"admin": {"LOA": 2}}).as_object().unwrap()).unwrap();
        let r = parse_verb_rule("hello/set-*=#admin", &named).unwrap();
        assert_eq!((r.api.as_str(), r.verb.as_str()), ("hello", "set-*"));
        assert_eq!(*r.rule, AuthRule::Loa(2));
        assert_eq!(
            *parse_verb_rule("*/x=urn:p", &named).unwrap().rule,
            AuthRule::perm("urn:p")
        );
        for bad in [
            "hello",
            "hello=true",
            "/x=true",
            "a/=true",
            "a/b=#nobody",
            "a/b={\"LOA\":\"x\"}",
        ] {
            assert!(parse_verb_rule(bad, &named).is_err(), "{bad}");
        }
        let ac = AccessControl::default();
        assert!(ac.verb_rule("hello", "set-x").is_none(), "no rules set");
        let rules = vec![
            parse_verb_rule("hello/set-*=#admin", &named).unwrap(),
            parse_verb_rule("HELLO/*={\"token\":true}", &named).unwrap(),
        ];
        assert!(ac.set_verb_rules(rules));
        assert!(!ac.set_verb_rules(Vec::new()), "set once");
        assert_eq!(
            ac.verb_rule("hello", "Set-Loa").as_deref(),
            Some(&AuthRule::Loa(2).and(AuthRule::Token))
        );
        assert_eq!(ac.verb_rule("hello", "ping").as_deref(), Some(&AuthRule::Token));
        assert!(ac.verb_rule("other", "set-x").is_none());
    }

    #[test]
    fn json_errors() {
        assert!(p(json!({"LOA": 9})).is_err());
        assert!(p(json!({"LOA": "x"})).is_err());
        assert!(p(json!({"bogus": 1})).unwrap_err().0.contains("bogus"));
        assert!(p(json!("#nowhere")).unwrap_err().0.contains("nowhere"));
        assert!(p(json!({})).is_err());
        assert!(p(json!(3)).is_err());
        assert!(p(json!({"or": "urn:a"})).is_err());
        let mut deep = json!("urn:a");
        for _ in 0..40 {
            deep = json!({ "not": deep });
        }
        assert!(p(deep).unwrap_err().0.contains("deep"));
    }

    #[test]
    fn json_round_trip() {
        let r = AuthRule::perm("urn:a").or(Auth::loa(2)).and(!AuthRule::Token);
        assert_eq!(p(r.to_json()), Ok(r));
    }

    #[test]
    fn from_session_bits() {
        assert_eq!(AuthRule::from(Auth::NONE), AuthRule::Yes);
        assert_eq!(AuthRule::from(Auth::check()), AuthRule::Token);
        assert_eq!(AuthRule::from(Auth::loa(2)), AuthRule::Token.and(AuthRule::Loa(2)));
        let r = Auth::perm("urn:x").or(Auth::loa(1));
        assert_eq!(r, AuthRule::perm("urn:x").or(AuthRule::Token.and(AuthRule::Loa(1))));
    }

    fn q(perm: &str, uid: u32, label: Option<&str>, loa: u8) -> PermissionQuery {
        PermissionQuery {
            permission: perm.into(),
            creds: Some(Arc::new(Credentials {
                uid,
                gid: 100,
                pid: 1,
                label: label.map(Into::into),
                cert: None,
            })),
            session: "s".into(),
            loa,
        }
    }

    #[test]
    fn policy_first_match_wins() {
        let p = Policy::from_value(json!({"rules": [
            {"uid": 0, "permission": "*", "decision": "allow"},
            {"label": "App:evil*", "permission": "*", "decision": "deny"},
            {"permission": ["urn:read:*", "urn:list"], "decision": "allow"},
            {"loa": 2, "gid": 100, "permission": "urn:write:*", "decision": "allow"},
        ]}))
        .unwrap();
        assert_eq!(p.decide(&q("urn:anything", 0, None, 0)), Decision::Allow);
        assert_eq!(p.decide(&q("urn:read:x", 1000, None, 0)), Decision::Allow);
        assert_eq!(p.decide(&q("urn:read:x", 1000, Some("App:evil1"), 0)), Decision::Deny);
        assert_eq!(p.decide(&q("urn:list", 1000, None, 0)), Decision::Allow);
        assert_eq!(p.decide(&q("urn:write:x", 1000, None, 1)), Decision::Deny);
        assert_eq!(p.decide(&q("urn:write:x", 1000, None, 2)), Decision::Allow);
        assert_eq!(p.decide(&q("urn:other", 1000, None, 7)), Decision::Deny);
        let mut nocreds = q("urn:read:x", 0, None, 0);
        nocreds.creds = None;
        assert_eq!(p.decide(&nocreds), Decision::Allow);
        nocreds.permission = "urn:secret".into();
        assert_eq!(p.decide(&nocreds), Decision::Deny, "a uid rule needs a known uid");
    }

    #[test]
    fn policy_errors() {
        assert!(Policy::from_value(json!({"rules": [{"permission": "*", "decision": "maybe"}]})).is_err());
        assert!(Policy::from_value(json!({"rules": [{"permission": "*", "decision": "allow", "who": 1}]})).is_err());
        assert!(Policy::from_value(json!({"rules": [{"decision": "allow"}]})).is_err());
        assert!(Policy::from_value(json!({"rulez": []})).is_err());
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[#a-zA-Z:*]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("LOA".to_owned()),
                            Just("or".to_owned()),
                            Just("and".to_owned()),
                            Just("not".to_owned()),
                            Just("token".to_owned()),
                            Just("permission".to_owned()),
                            "[a-z]{1,4}"
                        ],
                        inner
                    ),
                    0..4
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any JSON is a rule or a clear error, never a panic; a rule
        /// written back reads as the same rule (up to the grouping of
        /// `and`/`or`, which the JSON form flattens).
        #[test]
        fn any_json_rule_parses_or_fails_cleanly(v in arb_json()) {
            if let Ok(r) = parse_rule(&v, &NamedRules::new()) {
                let back = parse_rule(&r.to_json(), &NamedRules::new());
                proptest::prop_assert_eq!(back.map(|b| b.to_json()), Ok(r.to_json()));
            }
        }
    }

    #[test]
    fn token_requirement() {
        assert!(requires_token(&AuthRule::Token.and(AuthRule::Loa(1))));
        assert!(!requires_token(&AuthRule::Token.or(AuthRule::Loa(1))));
        assert!(requires_token(&AuthRule::perm(TOKEN_VALID)));
        assert!(!requires_token(&!AuthRule::Token));
    }
}
