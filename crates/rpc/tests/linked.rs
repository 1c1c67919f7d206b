//! Registries linked by RPC v3 in one process: a back serving the hello and
//! echo APIs with `--rpc-server`, fronts importing them with
//! `--rpc-client`; calls, errors, sessions, LOA, tokens, events,
//! broadcasts (and a ring of three), loss and return of the back, several
//! APIs on one link, descriptions, timeouts.

mod common;

use std::time::Duration;

use afb_rpc::RpcOptions;
use afb_sdk::testing::{data, TestBinder};
use common::*;
use serde_json::json;

async fn check_calls(front: &TestBinder, api: &str) {
    let c = front.client();
    let r = c.call(api, "ping", &json!({"a": 1})).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r), json!("Some String"));
    assert!(
        r.info.as_deref().unwrap_or("").starts_with("Ping Binder Daemon"),
        "{r:?}"
    );
    let r = c.call(api, "pingfail", &()).await;
    assert_eq!((&*r.status, r.code), ("failed", -1), "{r:?}");
    let r = c.call(api, "pingJson", &()).await;
    assert_eq!(data(&r)["eobj"]["subObjInt"], 5678);
    let r = c.call(api, "pingnull", &()).await;
    assert!(r.is_success() && r.data.is_none(), "{r:?}");
    let r = c.call(api, "nosuchverb", &()).await;
    assert_eq!((&*r.status, r.code), ("unknown-verb", -4), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_unix_abstract_tcp_and_ws() {
    let dir = TempDir::new("rpc-calls");
    let unix = Back::start(&unix_spec(&dir, "hello")).await;
    let f = front(&unix_spec(&dir, "hello")).await;
    check_calls(&f, "hello").await;

    let name = format!("unix:@afb-rpc-test-{}/hello", std::process::id());
    let abs = Back::start(&name).await;
    check_calls(&front(&name).await, "hello").await;

    let tcp = Back::start("tcp:127.0.0.1:0/hello").await;
    let port = tcp.handle.port.expect("a TCP port");
    check_calls(&front(&format!("tcp:127.0.0.1:{port}/hello")).await, "hello").await;

    let ws_spec = format!("ws+unix:{}?export=hello", path(&dir, "ws").display());
    let ws = Back::start(&ws_spec).await;
    check_calls(&front(&ws_spec.replace("export", "import")).await, "hello").await;
    drop((unix, abs, tcp, ws));
}
