//! Fuzzes the daemon's option handling without side effects: the input is
//! a JSON config file's text, then (after a NUL byte) NUL-separated
//! command-line arguments. `options::load_with` merges them as the daemon
//! does (files read through a closure); what loads is then taken apart as
//! the start-up does (`--set`, `--call`, `--interface`, log levels), and the
//! merged result (`--dump-config`) loads back to itself.
#![no_main]
use std::ffi::OsString;

use afb_binder::options::{load_with, Options};
use afb_binder::{daemon, listen, logging};
use libfuzzer_sys::fuzz_target;

fn load(args: &[OsString], config: &str) -> Option<Options> {
    load_with(args, |_| Ok(config.to_owned())).ok()
}

fuzz_target!(|data: &[u8]| {
    let (config, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let config = String::from_utf8_lossy(config);
    let mut args: Vec<OsString> = vec!["--config".into(), "fuzz.json".into()];
    args.extend(
        rest.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .take(16)
            .map(|a| OsString::from(String::from_utf8_lossy(a).into_owned())),
    );
    let Some(opts) = load(&args, &config) else {
        return;
    };
    let mut settings = serde_json::Map::new();
    for s in &opts.set {
        let _ = daemon::parse_set(s, &mut settings);
    }
    for c in &opts.call {
        let _ = daemon::parse_call(c);
    }
    for i in &opts.interface {
        let _ = listen::parse_interface(i);
    }
    let _ = logging::level_from(&opts.log, opts.verbose, opts.quiet);
    // --dump-config writes a config file that loads back to the same options.
    let dumped = opts.to_json();
    let text = dumped.to_string();
    let back = load(&["--config".into(), "dump.json".into()], &text)
        .unwrap_or_else(|| panic!("dumped config does not load: {text}"));
    assert_eq!(back.to_json(), dumped, "dump/load round trip");
});
