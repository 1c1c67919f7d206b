//! The application framework binder daemon (see `afb_binder`).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

fn main() -> std::process::ExitCode {
    afb_binder::main()
}
