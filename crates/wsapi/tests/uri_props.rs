//! Property tests of the socket URI parser: formatted URIs parse back to
//! what made them, and no input makes it panic.

use afb_wsapi::{Endpoint, SocketUri};
use proptest::prelude::*;

fn api_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-][A-Za-z0-9_.@:-]{0,15}"
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,8}"
}

proptest! {
    #[test]
    fn unix_paths_round_trip(dirs in proptest::collection::vec(segment(), 0..4), api in api_name(), abs in any::<bool>()) {
        let mut path = String::from(if abs { "/" } else { "" });
        for d in &dirs {
            path.push_str(d);
            path.push('/');
        }
        path.push_str(&api);
        let u = SocketUri::parse(&format!("unix:{path}")).unwrap();
        prop_assert_eq!(u.endpoint, Endpoint::Unix(path.clone().into()));
        prop_assert_eq!(u.api, api.clone());
        let u = SocketUri::parse(&format!("unix:@{path}")).unwrap();
        prop_assert_eq!(u.endpoint, Endpoint::Abstract(path));
        prop_assert_eq!(u.api, api);
    }

    #[test]
    fn tcp_round_trip(host in prop_oneof![Just(None), "[a-z][a-z0-9.-]{0,12}".prop_map(Some), any::<[u8; 4]>().prop_map(|a| Some(std::net::Ipv4Addr::from(a).to_string())), any::<u128>().prop_map(|a| Some(std::net::Ipv6Addr::from(a).to_string()))],
                      port in any::<u16>(), api in api_name(), scheme in any::<bool>(), rename in proptest::option::of(api_name())) {
        let h = match &host {
            None => "*".to_owned(),
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.clone(),
        };
        let mut uri = format!("{}{h}:{port}/{api}", if scheme { "tcp:" } else { "" });
        if let Some(r) = &rename {
            uri.push_str("?as-api=");
            uri.push_str(r);
        }
        let u = SocketUri::parse(&uri).unwrap();
        prop_assert_eq!(u.endpoint, Endpoint::Tcp { host, port });
        prop_assert_eq!(u.api, rename.unwrap_or(api));
    }

    #[test]
    fn never_panics(text in "\\PC{0,80}") {
        let _ = SocketUri::parse(&text);
    }

    #[test]
    fn never_panics_on_uri_like_text(scheme in prop_oneof![Just("unix:"), Just("tcp:"), Just("sd:"), Just("")], rest in "[\\[\\]:/@?=&a-z0-9*. -]{0,40}") {
        if let Ok(u) = SocketUri::parse(&format!("{scheme}{rest}")) {
            prop_assert!(!u.api.is_empty());
            prop_assert!(!u.api.contains('/'));
        }
    }
}
