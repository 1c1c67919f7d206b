//! Command-line errors (exit 4), unreachable addresses (exit 5), help and version: no server
//! needed.

mod common;

use common::{run, In};

#[test]
fn help_and_version_exit_0() {
    for flag in ["-h", "--help"] {
        let r = run(&[flag], In::Null);
        assert_eq!(r.code, 0, "{r:?}");
        for opt in [
            "--human",
            "--raw",
            "--direct",
            "--break",
            "--echo",
            "--keep-running",
            "--sync",
            "--pipe",
        ] {
            assert!(r.stdout.contains(opt), "{opt} missing from the help");
        }
    }
    for flag in ["-v", "--version"] {
        let r = run(&[flag], In::Null);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")), "{r:?}");
    }
}

#[test]
fn bad_arguments_exit_4() {
    for args in [
        &[][..],
        &["-x", "localhost:1/api"],
        &["--nope", "localhost:1/api"],
        &["-p", "0", "localhost:1/api"],
        &["-p", "many", "localhost:1/api"],
        &["-t"],
        &["localhost:1/api", "hello"],
        &["localhost:1/api", "hello", "ping", "{}", "extra"],
        &["-d", "unix:/tmp/x/hello", "ping", "{}", "extra"],
        &["-d", "unix:", "ping"],
        &["ftp://localhost:1/api", "hello", "ping"],
        &["localhost:99999/api", "hello", "ping"],
    ] {
        let r = run(args, In::Null);
        assert_eq!(r.code, 4, "{args:?}: {r:?}");
        assert!(!r.stderr.is_empty(), "{args:?}: no reason given");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    let r = run(&["localhost:1/api", "hello", "ping", "1", "2"], In::Null);
    assert!(r.stderr.contains("quoting"), "{}", r.stderr);
}

#[test]
fn unreachable_addresses_exit_5_and_name_the_address() {
    let port = afb_testkit::free_port();
    let uri = format!("ws://127.0.0.1:{port}/api");
    let r = run(&[&uri, "hello", "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one-line reason: {}", r.stderr);

    let r = run(&["-d", &format!("tcp:127.0.0.1:{port}/hello"), "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{}", r.stderr);

    let r = run(&["-d", "unix:@afb-client-test-no-such-socket/hello", "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("afb-client-test-no-such-socket"), "{}", r.stderr);

    // wss:// (TLS) fails the same way when nothing listens.
    let r = run(&["wss://127.0.0.1:1/api", "hello", "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("wss://127.0.0.1:1/api"), "{}", r.stderr);
}
