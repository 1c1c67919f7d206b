//! The application framework binder daemon (see `afb_binder`).

fn main() -> std::process::ExitCode {
    afb_binder::main()
}
