//! What `API/info` answers when the API has no verb of that name (redpesk
//! binders since libafb 5.7): the specification the API declared, else a
//! description generated from its verbs, schema `afb-api-info/v2`:
//!
//! ```json
//! {"$schema":"afb-api-info/v2","name":"API","info":"TEXT",
//!  "verbs":[{"name":"V","info":"TEXT","glob":true,"session-close":true,"auth":"loa>=1 and check-token"}]}
//! ```
//!
//! `info` (of the API and of a verb), `glob`, `session-close` and `auth` are
//! present only when set. `auth` is the verb's access rules as one text:
//! the session's requirements first (`loa>=N`, `check-token`), then the
//! rules of a C binding's `struct afb_auth` tree (`and` / `or` / `not`,
//! permissions by name, `yes`, `no`), redundant parts left out, as the C
//! binder writes it. One function serves every kind of API (SDK verbs and
//! C bindings of every ABI), so that they answer the same way.

use serde_json::value::RawValue;

use crate::auth::{Auth, Loa};
use crate::reply::Reply;

/// The schema named by generated descriptions.
pub const SCHEMA: &str = "afb-api-info/v2";

/// The name of the verb answered by the binder when the API has none.
pub const VERB: &str = "info";

/// An access rule of a C binding (`struct afb_auth`), for descriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRule {
    /// Never granted.
    No,
    /// The session's token must be presented.
    Token,
    /// The session's level of assurance must be at least this.
    Loa(u32),
    /// A permission, by name.
    Permission(String),
    /// Either rule.
    Or(Box<AuthRule>, Box<AuthRule>),
    /// Both rules.
    And(Box<AuthRule>, Box<AuthRule>),
    /// The rule must not hold.
    Not(Box<AuthRule>),
    /// Always granted.
    Yes,
}

/// The LOA bits of a rule (`AFB_SESSION_LOA_MASK`): a rule naming more
/// is invalid; its bits still count in the session's requirement.
const RULE_LOA_MASK: u32 = 3;

/// One verb as `info` describes it.
#[derive(Debug, Clone, Default)]
pub struct VerbInfo {
    /// Its name.
    pub name: String,
    /// Its description (left out when empty).
    pub info: String,
    /// Whether the name is a pattern (`*`, `?`).
    pub glob: bool,
    /// Its session requirements.
    pub auth: Auth,
    /// Its access rules (C bindings' `struct afb_auth`), if any.
    pub rule: Option<AuthRule>,
}

#[derive(Clone, Copy)]
struct Sess {
    loa: u32,
    check: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    And,
    Or,
}

enum Item<'a> {
    Rule(&'a AuthRule),
    Text(String),
}

fn minloa(r: &AuthRule) -> u32 {
    match r {
        AuthRule::Loa(n) => *n & RULE_LOA_MASK,
        AuthRule::Or(a, b) => minloa(a).min(minloa(b)),
        AuthRule::And(a, b) => minloa(a).max(minloa(b)),
        _ => 0,
    }
}

fn needs_token(r: &AuthRule) -> bool {
    match r {
        AuthRule::Token | AuthRule::Permission(_) => true,
        AuthRule::Or(a, b) => needs_token(a) && needs_token(b),
        AuthRule::And(a, b) => needs_token(a) || needs_token(b),
        AuthRule::Not(a) => needs_token(a),
        _ => false,
    }
}

fn valid(r: &AuthRule) -> bool {
    match r {
        AuthRule::Loa(n) => *n <= RULE_LOA_MASK,
        AuthRule::Or(a, b) | AuthRule::And(a, b) => valid(a) && valid(b),
        AuthRule::Not(a) => valid(a),
        _ => true,
    }
}

/// Whether `r` adds something to what the session already requires.
fn needed(r: &AuthRule, s: Sess) -> bool {
    match r {
        AuthRule::Token => !s.check,
        AuthRule::Loa(n) => s.loa < *n,
        _ => true,
    }
}

fn join_of(r: &AuthRule) -> Option<Join> {
    match r {
        AuthRule::And(..) => Some(Join::And),
        AuthRule::Or(..) => Some(Join::Or),
        _ => None,
    }
}

/// Flattens `r` over `join` into `list`, leaving out what is not needed.
fn unfold<'a>(r: &'a AuthRule, s: Sess, join: Join, list: &mut Vec<Item<'a>>) {
    if !needed(r, s) {
        return;
    }
    match r {
        AuthRule::And(a, b) | AuthRule::Or(a, b) if join_of(r) == Some(join) => {
            unfold(a, s, join, list);
            unfold(b, s, join, list);
        }
        _ => list.push(Item::Rule(r)),
    }
}

fn write_list(out: &mut String, list: &[Item<'_>], s: Sess, join: Join, parens: bool) {
    let parens = parens && list.len() > 1;
    if parens {
        out.push('(');
    }
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(if join == Join::And { " and " } else { " or " });
        }
        match item {
            Item::Rule(r) => write_rule(out, r, s),
            Item::Text(t) => out.push_str(t),
        }
    }
    if parens {
        out.push(')');
    }
}

fn write_rule(out: &mut String, r: &AuthRule, s: Sess) {
    match r {
        AuthRule::No => out.push_str("no"),
        AuthRule::Yes => out.push_str("yes"),
        AuthRule::Token => out.push_str("check-token"),
        AuthRule::Loa(n) => out.push_str(&format!("loa>={n}")),
        AuthRule::Permission(p) => out.push_str(p),
        AuthRule::Or(..) => {
            let mut list = Vec::new();
            unfold(r, s, Join::Or, &mut list);
            write_list(out, &list, s, Join::Or, true);
        }
        AuthRule::And(..) => {
            let mut list = Vec::new();
            let mut s = s;
            if !s.check && needs_token(r) {
                // The token check the rule implies comes first.
                list.push(Item::Text("check-token".into()));
                s.check = true;
            }
            unfold(r, s, Join::And, &mut list);
            write_list(out, &list, s, Join::And, true);
        }
        AuthRule::Not(a) => match &**a {
            AuthRule::Not(b) => write_rule(out, b, s),
            _ => {
                out.push_str("not ");
                write_rule(out, a, s);
            }
        },
    }
}

/// The `auth` text of a verb: `None` when it requires nothing.
pub fn auth_text(auth: &Auth, rule: Option<&AuthRule>) -> Option<String> {
    let mut s = Sess {
        loa: match auth.loa {
            Some(Loa::AtLeast(n)) => u32::from(n),
            _ => 0,
        },
        check: auth.check,
    };
    if rule.is_none() && s.loa == 0 && !s.check && !matches!(auth.loa, Some(Loa::AtMost(_) | Loa::Exactly(_))) {
        return None;
    }
    let rule = rule.inspect(|r| {
        s.loa = s.loa.max(minloa(r));
        s.check |= needs_token(r);
    });
    let rule = rule.filter(|r| valid(r));
    let mut list = Vec::new();
    match auth.loa {
        Some(Loa::AtMost(n)) => list.push(Item::Text(format!("loa<={n}"))),
        Some(Loa::Exactly(n)) => list.push(Item::Text(format!("loa=={n}"))),
        _ => {}
    }
    if s.loa > 0 {
        list.push(Item::Text(format!("loa>={}", s.loa)));
    }
    if s.check {
        list.push(Item::Text("check-token".into()));
    }
    if let Some(r) = rule {
        unfold(r, s, Join::And, &mut list);
    }
    let mut out = String::new();
    write_list(&mut out, &list, s, Join::And, false);
    Some(out)
}

fn push_str_field(out: &mut String, key: &str, value: &str) {
    out.push(',');
    push_json_str(out, key);
    out.push(':');
    push_json_str(out, value);
}

fn push_json_str(out: &mut String, s: &str) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// The generated description (`afb-api-info/v2`) as JSON text, its keys in
/// the C binder's order.
pub fn describe(name: &str, info: &str, verbs: &[VerbInfo]) -> String {
    let mut out = String::from("{");
    push_json_str(&mut out, "$schema");
    out.push(':');
    push_json_str(&mut out, SCHEMA);
    push_str_field(&mut out, "name", name);
    if !info.is_empty() {
        push_str_field(&mut out, "info", info);
    }
    out.push_str(",\"verbs\":[");
    for (i, v) in verbs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_str(&mut out, &v.name);
        if !v.info.is_empty() {
            push_str_field(&mut out, "info", &v.info);
        }
        if v.glob {
            out.push_str(",\"glob\":true");
        }
        if v.auth.close {
            out.push_str(",\"session-close\":true");
        }
        if let Some(a) = auth_text(&v.auth, v.rule.as_ref()) {
            push_str_field(&mut out, "auth", &a);
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// The reply of `info` for an API without a verb of that name: its
/// declared specification when it has one (as is when it is JSON, else as
/// a JSON string), else the generated description.
pub fn reply(specification: Option<&str>, name: &str, info: &str, verbs: &[VerbInfo]) -> Reply {
    let text = match specification {
        Some(spec) => match RawValue::from_string(spec.to_owned()) {
            Ok(raw) => return Reply::success(Some(raw), None),
            Err(_) => serde_json::to_string(spec).unwrap_or_else(|_| "null".into()),
        },
        None => describe(name, info, verbs),
    };
    match RawValue::from_string(text) {
        Ok(raw) => Reply::success(Some(raw), None),
        Err(e) => Reply::error(crate::status::INTERNAL_ERROR, Some(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn and(a: AuthRule, b: AuthRule) -> AuthRule {
        AuthRule::And(Box::new(a), Box::new(b))
    }

    fn or(a: AuthRule, b: AuthRule) -> AuthRule {
        AuthRule::Or(Box::new(a), Box::new(b))
    }

    fn perm(p: &str) -> AuthRule {
        AuthRule::Permission(p.into())
    }

    fn text(auth: Auth, rule: Option<AuthRule>) -> Option<String> {
        auth_text(&auth, rule.as_ref())
    }

    #[test]
    fn session_requirements() {
        assert_eq!(text(Auth::NONE, None), None);
        assert_eq!(text(Auth::loa(2), None).as_deref(), Some("loa>=2"));
        assert_eq!(text(Auth::check(), None).as_deref(), Some("check-token"));
        let both = Auth {
            check: true,
            ..Auth::loa(1)
        };
        assert_eq!(text(both, None).as_deref(), Some("loa>=1 and check-token"));
        let close = Auth {
            close: true,
            ..Auth::NONE
        };
        assert_eq!(text(close, None), None, "closing is not an access rule");
    }

    #[test]
    fn rule_trees() {
        assert_eq!(text(Auth::NONE, Some(AuthRule::Loa(2))).as_deref(), Some("loa>=2"));
        assert_eq!(text(Auth::NONE, Some(AuthRule::Token)).as_deref(), Some("check-token"));
        assert_eq!(
            text(Auth::NONE, Some(perm("urn:x"))).as_deref(),
            Some("check-token and urn:x"),
            "a permission needs the token"
        );
        assert_eq!(
            text(Auth::NONE, Some(or(perm("a"), perm("b")))).as_deref(),
            Some("check-token and (a or b)")
        );
        assert_eq!(
            text(Auth::NONE, Some(and(perm("a"), and(AuthRule::Loa(1), perm("b"))))).as_deref(),
            Some("loa>=1 and check-token and a and b"),
            "nested ands are flattened; what the session already requires is left out"
        );
        assert_eq!(
            text(Auth::NONE, Some(AuthRule::Not(Box::new(AuthRule::Yes)))).as_deref(),
            Some("not yes")
        );
        assert_eq!(
            text(
                Auth::NONE,
                Some(AuthRule::Not(Box::new(AuthRule::Not(Box::new(AuthRule::No)))))
            )
            .as_deref(),
            Some("no"),
            "double negation"
        );
        assert_eq!(
            text(Auth::NONE, Some(or(AuthRule::Loa(1), AuthRule::Yes))).as_deref(),
            Some("(loa>=1 or yes)")
        );
        assert_eq!(
            text(Auth::NONE, Some(and(AuthRule::Loa(5), perm("p")))).as_deref(),
            Some("loa>=1 and check-token"),
            "an invalid tree is left out, its LOA bits kept"
        );
    }

    #[test]
    fn generated_description_has_the_c_binders_shape() {
        let verbs = vec![
            VerbInfo {
                name: "ping".into(),
                info: "pings".into(),
                ..VerbInfo::default()
            },
            VerbInfo {
                name: "x*".into(),
                glob: true,
                auth: Auth {
                    close: true,
                    ..Auth::loa(2)
                },
                ..VerbInfo::default()
            },
        ];
        let t = describe("api\"1", "", &verbs);
        assert_eq!(
            t,
            r#"{"$schema":"afb-api-info/v2","name":"api\"1","verbs":[{"name":"ping","info":"pings"},{"name":"x*","glob":true,"session-close":true,"auth":"loa>=2"}]}"#
        );
        let v: Value = serde_json::from_str(&describe("a", "about", &[])).unwrap();
        assert_eq!(v, json!({"$schema": SCHEMA, "name": "a", "info": "about", "verbs": []}));
    }

    #[test]
    fn specification_wins_and_non_json_becomes_a_string() {
        let r = reply(Some(r#"{"openapi":"3.0.0"}"#), "a", "", &[]);
        assert_eq!(r.data_json(), Some(r#"{"openapi":"3.0.0"}"#));
        let r = reply(Some("not json"), "a", "", &[]);
        assert_eq!(r.data_json(), Some(r#""not json""#));
        let r = reply(None, "a", "", &[]);
        assert!(r.data_json().unwrap().starts_with(r#"{"$schema":"afb-api-info/v2""#));
    }
}
