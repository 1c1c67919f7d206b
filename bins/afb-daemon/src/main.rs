//! The application framework binder daemon (see `afb_binder`), with the
//! sample APIs and their web page when built with the `samples` feature
//! (the default).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

fn main() -> std::process::ExitCode {
    afb_binder::main(samples())
}

#[cfg(feature = "samples")]
fn samples() -> afb_binder::Samples {
    afb_binder::Samples::new()
        .api(afb_sample_hello::api())
        .api(afb_sample_tictactoe::api())
        .api(afb_sample_auth::api())
        .files(afb_sample_tictactoe::WEB_FILES)
}

#[cfg(not(feature = "samples"))]
fn samples() -> afb_binder::Samples {
    afb_binder::Samples::new()
}
