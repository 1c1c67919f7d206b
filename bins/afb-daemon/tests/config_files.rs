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
