//! Property tests of the socket URI parser: no input makes it panic, what
//! parses prints back to itself, and URIs made from parts parse back to
//! those parts.

use afb_endpoint::{Address, Host, Prefix, SocketUri};
use proptest::prelude::*;

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        Just(Host::Any),
        "[a-z][a-z0-9.-]{0,12}".prop_map(Host::Name),
        any::<[u8; 4]>().prop_map(|a| Host::Name(std::net::Ipv4Addr::from(a).to_string())),
        any::<u128>().prop_map(|a| Host::Name(std::net::Ipv6Addr::from(a).to_string())),
    ]
}

/// Text without the characters that end a part (`?`) or that the parser
/// refuses (NUL).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        any::<char>().prop_filter("no ? nor NUL", |c| *c != '?' && *c != '\0'),
        1..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn address() -> impl Strategy<Value = (Address, Option<String>)> {
    prop_oneof![
        (
            host(),
            any::<u16>(),
            proptest::option::of(text(20).prop_map(|p| p.replace('/', "_") + "/x"))
        )
            .prop_map(|(host, port, path)| (Address::Tcp { host, port }, path)),
        text(30)
            .prop_filter("short, no leading @", |p| p.len() <= 107 && !p.starts_with('@'))
            .prop_map(|p| (Address::Unix(p.into()), None)),
        text(30)
            .prop_filter("short", |n| n.len() <= 106)
            .prop_map(|n| (Address::Abstract(n), None)),
        (
            text(20).prop_map(|n| n.replace('/', "_")),
            proptest::option::of(text(20))
        )
            .prop_map(|(n, path)| (Address::Systemd(n), path)),
        text(40).prop_map(|p| (Address::Char(p.into()), None)),
    ]
}

/// Prefixes in any order; `ws+` never with `tls+`/`mtls+` (refused).
fn prefixes() -> impl Strategy<Value = Vec<Prefix>> {
    proptest::sample::subsequence(vec![Prefix::Ws, Prefix::Tls, Prefix::Mtls], 0..=3)
        .prop_filter("ws+ goes without TLS", |p| !(p.contains(&Prefix::Ws) && p.len() > 1))
        .prop_shuffle()
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((any::<String>(), any::<String>()), 0..4).prop_map(|v| {
        v.into_iter()
            .filter(|(k, v)| !k.contains('\0') && !v.contains('\0'))
            .collect()
    })
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC{0,80}") {
        let _ = SocketUri::parse(&s);
    }

    #[test]
    fn never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = SocketUri::parse(&String::from_utf8_lossy(&b));
    }

    /// Whatever parses prints to a URI that parses to the same value.
    #[test]
    fn parsed_uris_print_back(
        scheme in prop_oneof![Just(""), Just("unix:"), Just("unix:@"), Just("tcp:"), Just("sd:"), Just("char:"), Just("ws+tls+")],
        rest in "[\\[\\]:/@?=&%a-z0-9*.+ -]{0,40}",
    ) {
        let text = format!("{scheme}{rest}");
        if let Ok(u) = SocketUri::parse(&text) {
            let again = u.to_string();
            prop_assert_eq!(SocketUri::parse(&again), Ok(u.clone()), "{} -> {}", text, again);
            if let Some(api) = u.default_api() {
                prop_assert!(!api.is_empty() && !api.contains('/'));
            }
        }
    }

    /// A URI made from parts parses back to those parts.
    #[test]
    fn made_uris_round_trip(p in prefixes(), (address, path) in address(), q in query()) {
        let mut u = SocketUri::parse("unix:/x").unwrap();
        u.address = address;
        u.path = path;
        for (k, v) in q {
            u.query.push(k, v);
        }
        let written = u.to_string();
        let mut with_prefixes = String::new();
        for x in &p {
            with_prefixes.push_str(x.as_str());
        }
        with_prefixes.push_str(&written);
        let back = SocketUri::parse(&with_prefixes);
        prop_assert!(back.is_ok(), "{:?}: {:?}", with_prefixes, back);
        let back = back.unwrap();
        prop_assert_eq!(back.prefixes.list(), &p[..]);
        prop_assert_eq!(&back.address, &u.address);
        prop_assert_eq!(&back.path, &u.path);
        prop_assert_eq!(&back.query, &u.query);
        prop_assert_eq!(back.to_string(), with_prefixes);
    }

    /// The former wsapi forms: `tcp:HOST:PORT/API`, with or without scheme.
    #[test]
    fn tcp_forms(host in host(), port in any::<u16>(), api in "[A-Za-z0-9_.-][A-Za-z0-9_.@:-]{0,15}", scheme in any::<bool>()) {
        let uri = format!("{}{host}:{port}/{api}", if scheme { "tcp:" } else { "" });
        let u = SocketUri::parse(&uri).unwrap();
        prop_assert_eq!(&u.address, &Address::Tcp { host, port });
        let expected = api.strip_prefix('@').unwrap_or(&api).to_owned();
        prop_assert_eq!(u.default_api(), (!expected.is_empty()).then_some(expected));
    }
}
