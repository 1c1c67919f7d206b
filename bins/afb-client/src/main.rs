//! `afb-client`: the command-line client of the binder. It calls verbs over x-afb-ws-json1
//! (`afb-client [options] URI [API VERB [ARGS]]`), wsapi (`afb-client -d URI [VERB [ARGS]]`)
//! or RPC v3 (`afb-client --rpc URI [API VERB [ARGS]]`),
//! with the command lines, output forms and exit codes of the C clients (AGL
//! `afb-client-demo`, redpesk `afb-client`). See `docs/client.md`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod cli;
mod complete;
mod input;
mod output;
mod request;
mod rpc;
mod session;
mod uri;
mod wsapi;
mod wsj1;

use std::io::IsTerminal;

use clap::Parser;

use cli::{exit, Opts};
use input::Item;
use output::{Output, Sink};
use request::{json_args, Request};
use session::{Behaviour, Ctx};

fn main() {
    let opts = match Opts::try_parse() {
        Ok(o) => o,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::SUCCESS,
                _ => exit::BAD_ARG,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run(opts)),
        Err(e) => {
            eprintln!("afb-client: cannot start: {e}");
            exit::CONNECT
        }
    };
    std::process::exit(code);
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("afb-client: {msg}\nTry 'afb-client --help' for more information.");
    exit::BAD_ARG
}

async fn run(opts: Opts) -> i32 {
    // The TLS material of wss://, https:// and tls+/mtls+ URIs.
    afb_endpoint::tls::set_defaults(afb_endpoint::tls::TlsDefaults {
        cert: opts.cert.clone(),
        key: opts.key.clone(),
        trust: opts.cacert.clone(),
        ..afb_endpoint::tls::TlsDefaults::default()
    });
    let target = match opts.target() {
        Ok(t) => t,
        Err(msg) => return usage_error(&msg),
    };
    // The request of the command line, checked before connecting.
    let mut items = Vec::new();
    let mut warning = None;
    if let Some((api, verb, args)) = &target.request {
        let text = match args.as_deref() {
            Some("-") => match input::read_all_stdin(opts.ws_maxlen) {
                Ok(t) => t,
                Err(msg) => {
                    eprintln!("afb-client: {msg}");
                    return exit::INPUT;
                }
            },
            Some(t) => t.to_owned(),
            None => String::new(),
        };
        let (args, warn) = json_args(&text);
        warning = warn;
        let request = if api == "!" {
            Request::Event {
                name: verb.clone(),
                data: args,
            }
        } else {
            Request::Call {
                api: api.clone(),
                verb: verb.clone(),
                args,
            }
        };
        items.push(Item::Request(request));
        items.push(Item::End);
    }
    let human = opts.human;
    let ctx = Ctx {
        out: Output::new(human, opts.quiet, Sink::Stdout),
        echo: opts.echo,
        status: exit::SUCCESS,
        completions: None,
        sent: 0,
    };
    if let (Some(w), true) = (&warning, human) {
        eprintln!("afb-client: {w}");
    }
    let how = Behaviour {
        window: opts.window(),
        keep_running: opts.keep_running,
        break_after_send: opts.break_,
    };
    let from_stdin = items.is_empty();
    let interactive = from_stdin && std::io::stdin().is_terminal();
    if opts.rpc {
        let t = match rpc::RpcTarget::parse(&target.uri, opts.uuid.as_deref(), opts.token.as_deref()) {
            Ok(t) => t,
            Err(e) => return usage_error(&e.to_string()),
        };
        let who = [opts.uuid.as_deref(), opts.token.as_deref()];
        return match rpc::connect(&t, opts.ws_maxlen, who).await {
            Ok(mut link) => start(&mut link, ctx, items, interactive, how, opts.ws_maxlen, None).await,
            Err(msg) => {
                eprintln!("afb-client: {msg}");
                exit::CONNECT
            }
        };
    }
    if opts.direct {
        let t = match uri::WsapiTarget::parse(&target.uri) {
            Ok(t) => t,
            Err(e) => return usage_error(&e.to_string()),
        };
        match wsapi::connect(&t, opts.uuid.as_deref(), opts.token.as_deref(), opts.ws_maxlen).await {
            Ok(mut link) => start(&mut link, ctx, items, interactive, how, opts.ws_maxlen, Some(&t.api)).await,
            Err(msg) => {
                eprintln!("afb-client: {msg}");
                exit::CONNECT
            }
        }
    } else {
        let t = match uri::WsTarget::parse(&target.uri, opts.uuid.as_deref(), opts.token.as_deref()) {
            Ok(t) => t,
            Err(e) => return usage_error(&e.to_string()),
        };
        match wsj1::connect(&t, opts.ws_maxlen).await {
            Ok(mut link) => start(&mut link, ctx, items, interactive, how, opts.ws_maxlen, None).await,
            Err(msg) => {
                eprintln!("afb-client: {msg}");
                exit::CONNECT
            }
        }
    }
}

/// Sets the input up (command line, stdin lines or the line editor) and runs the loop.
async fn start<L: session::Link>(
    link: &mut L,
    mut ctx: Ctx,
    items: Vec<Item>,
    interactive: bool,
    how: Behaviour,
    max_line: usize,
    direct_api: Option<&str>,
) -> i32 {
    if !items.is_empty() {
        return session::run(link, &mut ctx, input::from_items(items), how).await;
    }
    if interactive {
        let completions = complete::Completions::shared();
        if let (Some(api), Ok(mut known)) = (direct_api, completions.lock()) {
            known.add_api(api);
        }
        let terminal = input::TerminalState::save();
        match input::interactive(completions.clone(), direct_api.is_some()) {
            Ok((rx, sink)) => {
                if ctx.out.set_sink(sink).is_err() {
                    return exit::INPUT;
                }
                ctx.completions = Some(completions);
                let code = session::run(link, &mut ctx, rx, how).await;
                // Let the editor print what it was given, then leave the terminal as it was.
                let _ = ctx.out.flush();
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                terminal.restore();
                // Leave the prompt's line.
                eprintln!();
                return code;
            }
            Err(msg) => eprintln!("afb-client: {msg}; reading stdin as lines"),
        }
    }
    session::run(link, &mut ctx, input::stdin_lines(max_line), how).await
}
