//! The v3, v2 and v1 test bindings loaded in-process, and bindings that
//! must be refused with clear errors.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_v3_in_process() {
    let so = build("hello3.c", "hello3", &[]);
    let reg = registry(json!({"hello3": {"x": 1}}), Duration::from_secs(2));
    assert_eq!(load(&reg, &so).await.unwrap().version, 3);
    reg.start().await.unwrap();
    let c = TestClient::new(&reg);
    let r = c.call("hello3", "ping", json!({"a": 1})).await;
    assert_eq!(
        (data(&r), r.info.as_deref()),
        (
            json!("Some String"),
            Some(r#"Ping Binder Daemon tag=pingSample count=1 query={ "a": 1 }"#)
        )
    );
    assert_eq!(data(&c.call("hello3", "echo", json!([1, "b"])).await), json!([1, "b"]));
    assert_eq!(
        data(&c.call("hello3", "hello", json!({"name": "al"})).await),
        json!("hello al")
    );
    let f = c.call("hello3", "fail", json!(null)).await;
    assert_eq!((&*f.status, f.info.as_deref()), ("failed", Some("it fails")));
    assert_eq!(data(&c.call("hello3", "async", json!(null)).await), json!("late"));
    assert!(c.call("hello3", "setctx", json!({"s": "v"})).await.is_success());
    assert_eq!(data(&c.call("hello3", "getctx", json!(null)).await), json!({"s": "v"}));
    assert_eq!(
        &*c.call("hello3", "loa1", json!(null)).await.status,
        "insufficient-scope"
    );
    assert!(c.call("hello3", "setloa", json!(1)).await.is_success());
    assert!(c.call("hello3", "loa1", json!(null)).await.is_success());
    assert!(c.call("hello3", "subscribe", json!(null)).await.is_success());
    assert_eq!(data(&c.call("hello3", "push", json!({"p": 3})).await), json!(1));
    assert_eq!(c.event("hello3/ev").await, json!({"p": 3}));
    assert!(c.call("hello3", "bcast", json!("b")).await.is_success());
    assert_eq!(c.event("hello3/bc").await, json!("b"));
    let sub = json!({"api": "hello3", "verb": "hello", "args": {"name": "s"}});
    assert_eq!(data(&c.call("hello3", "subcall", sub.clone()).await), json!("hello s"));
    assert_eq!(data(&c.call("hello3", "subcallsync", sub).await), json!("hello s"));
    let e = c
        .call("hello3", "subcallsync", json!({"api": "hello3", "verb": "fail"}))
        .await;
    assert_eq!((&*e.status, e.info.as_deref()), ("failed", Some("it fails")));
    assert!(c.call("hello3", "addverb", json!(null)).await.is_success());
    assert_eq!(data(&c.call("hello3", "dyn", json!(null)).await), json!("dynamic"));
    // The settings name the shared object (as the C binder's do); v3 has no `path`.
    assert_eq!(
        data(&c.call("hello3", "settings", json!(null)).await),
        json!({"x": 1, "binding-path": so.display().to_string()})
    );
    assert_eq!(data(&c.call("hello3", "info", json!(null)).await)["LOA"], json!(1));
    assert_eq!(data(&c.call("hello3", "twice", json!(null)).await), json!(1));
    assert_eq!(&*c.call("hello3", "never", json!(null)).await.status, "not-replied");
    assert!(c.call("hello3", "ping", json!(null)).await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_v2_in_process() {
    let so = build("hello2.c", "hello2", &[]);
    let reg = registry(json!({}), Duration::from_secs(2));
    assert_eq!(load(&reg, &so).await.unwrap().version, 2);
    reg.start().await.unwrap();
    let c = TestClient::new(&reg);
    assert_eq!(data(&c.call("hello2", "ping", json!(null)).await), json!("pong2"));
    assert_eq!(
        data(&c.call("hello2", "hello", json!({"name": "x"})).await),
        json!("hello x")
    );
    assert!(c.call("hello2", "subscribe", json!(null)).await.is_success());
    assert!(c.call("hello2", "push", json!(7)).await.is_success());
    assert_eq!(c.event("hello2/ev").await, json!(7));
    let env = data(&c.call("hello2", "callsync", json!(null)).await);
    assert_eq!(env["response"], json!("hello svc"), "{env}");
    assert_eq!(env["request"]["status"], json!("success"));
    assert_eq!(
        &*c.call("hello2", "loa1", json!(null)).await.status,
        "insufficient-scope"
    );
    // No verb named `info`: the binder answers the generated description.
    let r = c.call("hello2", "info", json!(null)).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        r.data_json(),
        Some(
            r#"{"$schema":"afb-api-info/v2","name":"hello2","info":"test binding of ABI v2","verbs":[{"name":"ping"},{"name":"hello"},{"name":"subscribe"},{"name":"push"},{"name":"callsync"},{"name":"loa1","auth":"loa>=1"},{"name":"upload"}]}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_v1_in_process() {
    let so = build("hello1.c", "hello1", &[]);
    let reg = registry(json!({}), Duration::from_secs(2));
    assert_eq!(load(&reg, &so).await.unwrap().apis, vec!["hello1".to_owned()]);
    reg.start().await.unwrap();
    let c = TestClient::new(&reg);
    let r = c.call("hello1", "ping", json!(null)).await;
    assert_eq!((data(&r), r.info.as_deref()), (json!("pong1"), Some("inited")));
    assert_eq!(
        data(&c.call("hello1", "hello", json!({"name": "v1"})).await),
        json!("hello v1")
    );
    assert!(c.call("hello1", "subscribe", json!(null)).await.is_success());
    assert!(c.call("hello1", "push", json!({"one": 1})).await.is_success());
    assert_eq!(c.event("hello1/ev").await, json!({"one": 1}));
    assert_eq!(
        &*c.call("hello1", "loaeq1", json!(null)).await.status,
        "insufficient-scope"
    );
    assert!(c.call("hello1", "setloa", json!(null)).await.is_success());
    assert!(c.call("hello1", "loaeq1", json!(null)).await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bindings_are_refused_with_clear_errors() {
    let reg = registry(json!({}), Duration::from_secs(2));
    let not = build("notabinding.c", "notabinding", &[]);
    let e = load(&reg, &not).await.unwrap_err();
    assert!(
        e.to_string().contains("notabinding.so") && e.reason.contains("not a binding"),
        "{e}"
    );
    let noitf = build("nov4itf.c", "nov4itf", &[]);
    let e = load(&reg, &noitf).await.unwrap_err();
    assert!(e.reason.contains("afbBindingV4r1_itfptr"), "{e}");
    let badname = build("hello1.c", "badname", &["-DPREFIX=\"bad/name\""]);
    let e = load(&reg, &badname).await.unwrap_err();
    assert!(
        e.to_string().contains("badname.so") && e.reason.contains("bad/name"),
        "{e}"
    );
    let e = load(&reg, std::path::Path::new("/nonexistent/x.so")).await.unwrap_err();
    assert!(e.reason.contains("cannot load"), "{e}");
    // Built with headers newer than the binder: refused, the message says
    // which revisions are implemented.
    let rev = build("itfrev.c", "rev10", &["-DFORCE_REVISION=10", "-DAPINAME=\"rev10\""]);
    let e = load(&reg, &rev).await.unwrap_err();
    assert!(
        e.reason.contains("revision 10 is not supported") && e.reason.contains("revisions 1 to 9"),
        "{e}"
    );
    let rev = build("itfrev.c", "rev0", &["-DFORCE_REVISION=0", "-DAPINAME=\"rev0\""]);
    let e = load(&reg, &rev).await.unwrap_err();
    assert!(e.reason.contains("revision 0 is not supported"), "{e}");
    assert!(reg.api_names().is_empty(), "{:?}", reg.api_names());
}

#[test]
fn scan_is_recursive_sorted_and_skips_dot_directories() {
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scan-test");
    let _ = std::fs::remove_dir_all(&base);
    for d in ["b", "a/deep", ".hidden"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    for f in ["b/z.so", "a/deep/y.so", "a/x.so", ".hidden/h.so", "a/not.txt", "top.so"] {
        std::fs::write(base.join(f), b"").unwrap();
    }
    let found: Vec<String> = afb_cbinding::scan(&base)
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(&base).unwrap().display().to_string())
        .collect();
    assert_eq!(found, vec!["a/deep/y.so", "a/x.so", "b/z.so", "top.so"]);
}
