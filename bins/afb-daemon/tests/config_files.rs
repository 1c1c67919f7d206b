//! Config files as redpesk writes them: a YAML file and a JSON file with
//! comments, each with includes (`$ref` of a file and of a directory),
//! `${VAR}` expansion and `binding` objects, give the same effective
//! configuration (`-z`) as the equivalent command line; bad files stop
//! the daemon with the file, the line and the key.

use std::process::Command;

use afb_testkit::{bin_path, TempDir};
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin_path("afb-daemon"))
        .args(args)
        .env("CFGTEST_PORT", "4321")
        .env("CFGTEST_DIR", "/x")
        .env_remove("AFB_SET")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn final_config(args: &[&str]) -> Value {
    let mut a = vec!["-z"];
    a.extend_from_slice(args);
    let (code, out, err) = run(&a);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn yaml_and_json_configs_equal_the_command_line() {
    let dir = TempDir::new("cfgfiles");
    let d = dir.path();
    std::fs::create_dir_all(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/1.yaml"), "c:\n  x: 1\n").unwrap();
    std::fs::write(d.join("conf.d/2.json"), "{\"d\": {\"y\": 2}} // second\n").unwrap();
    std::fs::write(d.join("perm.json"), "/* the backend */ \"grant-all\"").unwrap();
    std::fs::write(
        d.join("main.yaml"),
        "# a redpesk-like config\n\
         port: \"${CFGTEST_PORT}\"\n\
         binding:\n\
         \x20 - path: ${CFGTEST_DIR}/a.so\n\
         \x20   uid: a\n\
         \x20   greeting: hi\n\
         \x20 - /x/b.so\n\
         apitimeout: 5\n\
         permissions:\n\
         \x20 $ref: perm.json\n\
         set:\n\
         \x20 $ref: conf.d\n\
         acls:\n\
         \x20 admin: {LOA: 2}\n\
         \x20 either: {or: ['#admin', 'urn:x']}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("main.json"),
        "// the same in JSON\n{\n\
         \x20 \"port\": \"${CFGTEST_PORT}\", /* from the environment */\n\
         \x20 \"binding\": [{\"path\": \"${CFGTEST_DIR}/a.so\", \"uid\": \"a\", \"greeting\": \"hi\"}, \"/x/b.so\"],\n\
         \x20 \"apitimeout\": 5,\n\
         \x20 \"permissions\": {\"$ref\": \"perm.json\"},\n\
         \x20 \"set\": {\"$ref\": \"conf.d\"},\n\
         \x20 \"acls\": {\"admin\": {\"LOA\": 2}}\n}\n",
    )
    .unwrap();
    let cli = final_config(&[
        "--port",
        "4321",
        "--binding",
        "/x/a.so",
        "--binding",
        "/x/b.so",
        "--apitimeout",
        "5",
        "--permissions",
        "grant-all",
        "--set",
        r#"{"c":{"x":1},"d":{"y":2}}"#,
        "--set",
        r#"{"a":{"greeting":"hi"}}"#,
    ]);
    assert_eq!(cli["port"], 4321);
    assert_eq!(cli["permissions"], "grant-all");
    let yaml = final_config(&["--config", d.join("main.yaml").to_str().unwrap()]);
    assert_eq!(yaml, cli, "YAML");
    let json = final_config(&["--config", d.join("main.json").to_str().unwrap()]);
    assert_eq!(json, cli, "JSON");
    // Several files merge in order; the command line still wins.
    std::fs::write(d.join("more.yml"), "apitimeout: 7\nbinding: [/x/c.so]\n").unwrap();
    let both = final_config(&[
        "--config",
        d.join("main.yaml").to_str().unwrap(),
        "--config",
        d.join("more.yml").to_str().unwrap(),
        "--port",
        "99",
    ]);
    assert_eq!(both["apitimeout"], 7);
    assert_eq!(both["port"], 99);
    assert_eq!(both["binding"], serde_json::json!(["/x/a.so", "/x/b.so", "/x/c.so"]));
}

#[test]
fn bad_config_files_name_the_file_line_and_key() {
    let dir = TempDir::new("cfgbad");
    let d = dir.path();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "k.yaml",
            "port: 1\n\nsesion-max: 3\n",
            vec!["k.yaml:3", "sesion-max", "unknown key"],
        ),
        (
            "k.json",
            "{\n /* x */\n \"port\": 1,\n \"no-htttpd\": true\n}",
            vec!["k.json:4", "no-htttpd"],
        ),
        ("s.json", "{\n \"port\": 1,\n \"x\" 2\n}", vec!["s.json:3"]),
        (
            "v.yaml",
            "name: ${CFGTEST_UNSET_VARIABLE}\n",
            vec!["v.yaml", "CFGTEST_UNSET_VARIABLE"],
        ),
        ("r.yaml", "set:\n  $ref: r.yaml\n", vec!["r.yaml", "includes itself"]),
        ("m.yaml", "set:\n  $ref: missing.json\n", vec!["missing.json"]),
        ("a.yaml", "acls:\n  bad: {LAO: 1}\n", vec!["a.yaml", "acls", "LAO"]),
        ("b.yaml", "binding:\n  - uid: x\n", vec!["b.yaml", "path"]),
    ];
    for (name, text, wants) in cases {
        std::fs::write(d.join(name), text).unwrap();
        let (code, _, err) = run(&["-z", "--config", d.join(name).to_str().unwrap()]);
        assert_eq!(code, Some(2), "{name}: {err}");
        for w in wants {
            assert!(err.contains(w), "{name}: {w:?} not in {err}");
        }
    }
}

#[test]
fn named_acls_are_usable_by_auth_entries_in_yaml_json_and_on_the_command_line() {
    let dir = TempDir::new("cfgacls");
    let d = dir.path();
    // The names live in one file, the rules that use them in another.
    std::fs::write(
        d.join("acls.yaml"),
        "acls:\n\
         \x20 admin: {LOA: 2}\n\
         \x20 either: {or: ['#admin', 'urn:x']}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("auth.yaml"),
        "auth:\n\
         \x20 hello/exit: '#admin'\n\
         \x20 'hello/set-*': {and: ['#either', {token: true}]}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("all.json"),
        "{ // the same in JSON\n\
         \"acls\": {\"admin\": {\"LOA\": 2}, \"either\": {\"or\": [\"#admin\", \"urn:x\"]}},\n\
         /* rules by name */ \"auth\": {\"hello/exit\": \"#admin\", \"hello/set-*\": {\"and\": [\"#either\", {\"token\": true}]}}\n\
         }\n",
    )
    .unwrap();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let yaml = final_config(&["--config", &p("acls.yaml"), "--config", &p("auth.yaml")]);
    let json = final_config(&["--config", &p("all.json")]);
    // The command line can use the names of a config file too.
    let cli = final_config(&[
        "--config",
        &p("acls.yaml"),
        "--auth",
        "hello/exit=#admin",
        "--auth",
        r#"hello/set-*={"AllOf":[{"anyOf":[{"LOA":2},"urn:x"]},{"token":true}]}"#,
    ]);
    assert_eq!(yaml, json);
    assert_eq!(yaml, cli);
    // The names are replaced by their rules.
    let auth: Vec<&str> = yaml["auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(auth.len(), 2, "{yaml}");
    assert!(auth[0].starts_with("hello/exit="), "{auth:?}");
    let rule: Value = serde_json::from_str(auth[0].split_once('=').unwrap().1).unwrap();
    assert_eq!(rule, serde_json::json!({"LOA": 2}), "{auth:?}");
    assert!(!auth.iter().any(|a| a.contains('#')), "{auth:?}");

    // Unknown names, bad targets and bad rules stop the start.
    for (args, want) in [
        (vec!["--auth", "hello/exit=#nobody"], "nobody"),
        (vec!["--auth", "hello-exit={\"LOA\":1}"], "API/VERB"),
        (vec!["--auth", "hello/exit={\"LOA\":\"x\"}"], "LOA"),
    ] {
        let mut a = vec!["-z"];
        a.extend(args.iter().copied());
        let (code, _, err) = run(&a);
        assert_ne!(code, Some(0), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn auth_rules_are_enforced_before_the_verb() {
    let dir = TempDir::new("cfgauth");
    let cfg = dir.path().join("auth.yaml");
    std::fs::write(
        &cfg,
        "acls:\n\
         \x20 admin: {LOA: 2}\n\
         auth:\n\
         \x20 'hello/ping*': '#admin'\n",
    )
    .unwrap();
    let d = afb_testkit::Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let get = |target: &str| {
        let mut s = std::net::TcpStream::connect(d.addr()).unwrap();
        use std::io::{Read, Write};
        write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    // Refused as a LOA is refused (403 insufficient_scope), for every
    // matching verb; other verbs run.
    for verb in ["ping", "pingJson"] {
        let r = get(&format!("/api/hello/{verb}"));
        assert!(r.starts_with("HTTP/1.1 403"), "{verb}: {r}");
        assert!(r.contains("insufficient-scope"), "{verb}: {r}");
    }
    let r = get("/api/hello/pingnull");
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    let r = get("/api/hello/info");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}
