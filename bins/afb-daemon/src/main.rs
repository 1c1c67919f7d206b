//! The application framework binder daemon (see `afb_binder`), with the
//! sample APIs and their web page when built with the `samples` feature
//! (the default), and mimalloc as its allocator with the `mimalloc` feature
//! (the default; see `allocator`).

#![cfg_attr(not(feature = "mimalloc"), forbid(unsafe_code))]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// The one module with unsafe code: mimalloc's options.
#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
mod allocator;

fn main() -> std::process::ExitCode {
    #[cfg(feature = "mimalloc")]
    allocator::tune();
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
