//! The `auth` sample API: a login flow with the level of assurance (LOA)
//! and token renewal.
//!
//! `connect` (token check + renew) raises the session's LOA for `auth` to 1
//! and returns the new token; `check` and `refresh` need LOA 1; `logout`
//! closes the session's state for `auth` (LOA back to 0).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::sync::atomic::{AtomicU64, Ordering};

use afb_sdk::prelude::*;

/// The state of the API: how many times `ping` was called.
#[derive(Default)]
struct Pings(AtomicU64);

/// Declares the `auth` API.
pub fn api() -> ApiBuilder {
    ApiBuilder::new("auth")
        .info("Sample authentication API: LOA and token renewal")
        .state(Pings::default())
        .verb(Verb::new("ping", ping).info("counts the calls"))
        .verb(
            Verb::new("connect", connect)
                .auth(Auth::loa(0).renew())
                .info("logs in: LOA 1 and a new token"),
        )
        .verb(
            Verb::new("refresh", token)
                .auth(Auth::loa(1).renew())
                .info("renews the token (LOA 1)"),
        )
        .verb(
            Verb::new("check", check)
                .auth(Auth::loa(1))
                .info("tells whether logged in (LOA 1)"),
        )
        .verb(
            Verb::new("logout", logout)
                .auth(Auth::loa(1).close())
                .info("logs out: LOA back to 0"),
        )
}

async fn ping(pings: State<Pings>) -> Result<Value, Error> {
    Ok(json!({"count": pings.0.fetch_add(1, Ordering::Relaxed) + 1}))
}

async fn connect(req: Req) -> Result<Value, Error> {
    req.set_loa(1)?;
    token(req).await
}

/// The renewed token and the LOA.
async fn token(req: Req) -> Result<Value, Error> {
    let token = req
        .renewed_token()
        .ok_or_else(|| Error::internal("the token was not renewed"))?;
    Ok(json!({"token": &*token, "LOA": req.loa()}))
}

async fn check() -> Result<Value, Error> {
    Ok(json!({"isvalid": true}))
}

async fn logout() -> Result<Response, Error> {
    Ok(Response::ok().info("logged out"))
}
