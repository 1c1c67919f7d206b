//! The auth sample's login flow, through the core.

use afb_sdk::core::{RegistryConfig, SessionConfig};
use afb_sdk::testing::{data, TestBinder};
use serde_json::json;

#[tokio::test]
async fn login_refresh_check_logout() {
    let cfg = RegistryConfig {
        sessions: SessionConfig {
            initial_token: Some("app-secret".into()),
            ..SessionConfig::default()
        },
        ..RegistryConfig::default()
    };
    let b = TestBinder::start_with(cfg, vec![afb_sample_auth::api()]).await.unwrap();
    let c = b.client();
    assert_eq!(data(&c.call("auth", "ping", &()).await), json!({"count": 1}));
    assert_eq!(data(&c.call("auth", "ping", &()).await), json!({"count": 2}));

    assert_eq!(&*c.call("auth", "check", &()).await.status, "invalid-token");
    assert_eq!(
        &*c.call("auth", "connect", &()).await.status,
        "invalid-token",
        "connect needs the app's token"
    );
    c.set_token(Some("app-secret"));
    assert_eq!(&*c.call("auth", "check", &()).await.status, "insufficient-scope");

    let r = c.call("auth", "connect", &()).await;
    assert!(r.is_success(), "{r:?}");
    let t1 = data(&r)["token"].as_str().unwrap().to_owned();
    assert_eq!(
        Some(t1.as_str()),
        r.token.as_deref(),
        "the envelope carries the same token"
    );
    assert_eq!(data(&r)["LOA"], 1);
    assert_eq!(data(&c.call("auth", "check", &()).await), json!({"isvalid": true}));

    let r = c.call("auth", "refresh", &()).await;
    let t2 = data(&r)["token"].as_str().unwrap().to_owned();
    assert_ne!(t1, t2);
    c.set_token(Some(&t1));
    assert_eq!(
        &*c.call("auth", "check", &()).await.status,
        "invalid-token",
        "old token refused"
    );
    c.set_token(Some(&t2));
    assert!(c.call("auth", "check", &()).await.is_success());

    assert!(c.call("auth", "logout", &()).await.is_success());
    assert_eq!(&*c.call("auth", "check", &()).await.status, "insufficient-scope");
    assert_eq!(&*c.call("auth", "logout", &()).await.status, "insufficient-scope");
}
