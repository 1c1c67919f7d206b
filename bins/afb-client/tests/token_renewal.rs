//! A call that renews the token gets a reply of 4 elements
//! (`[3,ID,REPLY,"TOKEN"]`): the client prints the reply object as usual
//! and its next calls, which need the new token, succeed.

mod common;

use afb_testkit::Daemon;
use common::{json_lines, run, In};

#[test]
fn calls_after_a_token_renewal_succeed() {
    let d = Daemon::start(&["--token", "SECRET"]);
    let r = run(
        &["-t", "SECRET", &d.ws_url()],
        In::Text("auth connect\nauth check\nhello checktok\nauth refresh\nauth check\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 5, "{r:?}");
    assert!(lines.iter().all(|l| l["request"]["status"] == "success"), "{r:?}");
    let first = lines[0]["request"]["token"].as_str().expect("renewed token");
    assert_eq!(lines[0]["response"]["token"], first);
    assert_eq!(lines[1]["response"], serde_json::json!({"isvalid": true}));
    assert_ne!(lines[3]["request"]["token"], first, "renewed again");
    assert!(r.stderr.is_empty(), "{r:?}");
}
