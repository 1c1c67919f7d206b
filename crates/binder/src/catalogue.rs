//! Documents the daemon generates over HTTP: `GET /metrics` (with
//! `--metrics`), `GET {rootapi}/openapi.json` (always), and the separate
//! metrics listener of `--metrics-interface`.
//!
//! The OpenAPI document merges the `describe` output of every public API:
//! one path per verb (`{rootapi}/API/VERB`, `GET` with the argument in the
//! query and `POST` with a JSON body), tagged with the API's name, answered
//! with the binder's reply envelope.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use afb_core::Registry;
use afb_endpoint::{ListenOptions, Listener};
use afb_http::{Document, Documents};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Content type of the OpenMetrics text.
pub const METRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The generated documents of the HTTP server.
pub struct Docs {
    /// The registry whose APIs are described.
    pub registry: Arc<Registry>,
    /// The metrics, when `--metrics` serves them on the HTTP listeners.
    pub metrics: Option<Arc<Metrics>>,
    /// The API root (`--rootapi`), without a trailing `/`.
    pub rootapi: String,
}

type DocFuture = Pin<Box<dyn Future<Output = Document> + Send>>;

impl Documents for Docs {
    fn get(&self, path: &str) -> Option<DocFuture> {
        if path == "/metrics" {
            let m = self.metrics.clone()?;
            return Some(Box::pin(async move { (METRICS_TYPE, m.render().into_bytes()) }));
        }
        if path.strip_prefix(self.rootapi.as_str()) == Some("/openapi.json") {
            let reg = self.registry.clone();
            let root = self.rootapi.clone();
            return Some(Box::pin(async move {
                let doc = openapi(&reg, &root).await;
                ("application/json", serde_json::to_vec_pretty(&doc).unwrap_or_default())
            }));
        }
        None
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// The operation of one verb (`get` or `post`).
fn operation(api: &str, verb: &str, desc: Option<&Value>, post: bool) -> Value {
    let mut op = Map::new();
    op.insert("tags".into(), json!([api]));
    op.insert(
        "operationId".into(),
        json!(format!("{api}_{verb}_{}", if post { "post" } else { "get" })),
    );
    let summary = desc.and_then(|d| {
        text(d.get("summary"))
            .or_else(|| text(d.get("description")))
            .or_else(|| text(d.pointer("/responses/200/description")))
    });
    if let Some(s) = summary.filter(|s| !s.is_empty()) {
        op.insert("summary".into(), json!(s));
    }
    if let Some(p) = desc.and_then(|d| d.get("x-permissions")) {
        op.insert("x-permissions".into(), p.clone());
    }
    if post {
        op.insert(
            "requestBody".into(),
            json!({"required": false, "content": {"application/json": {"schema": {}}}}),
        );
    } else {
        op.insert(
            "parameters".into(),
            json!([{
                "name": "args",
                "in": "query",
                "required": false,
                "description": "the argument's fields as query parameters",
                "style": "form",
                "explode": true,
                "schema": {"type": "object", "additionalProperties": true}
            }]),
        );
    }
    op.insert(
        "responses".into(),
        json!({
            "200": {
                "description": "the verb's reply (success or error status in jtype afb-reply)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/afb-reply"}}}
            }
        }),
    );
    Value::Object(op)
}

/// The OpenAPI 3 document of every public API of `registry`.
pub async fn openapi(registry: &Registry, rootapi: &str) -> Value {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for name in registry.api_names() {
        let described = registry.describe(&name).await;
        let info = registry.get_api(&name).map(|e| e.info().to_owned()).unwrap_or_default();
        let description = described
            .as_ref()
            .and_then(|d| text(d.pointer("/info/description")))
            .filter(|s| !s.is_empty())
            .unwrap_or(info);
        tags.push(json!({"name": name, "description": description}));
        let Some(Value::Object(dpaths)) = described.as_ref().and_then(|d| d.get("paths")) else {
            continue;
        };
        for (p, item) in dpaths {
            let verb = p.trim_start_matches('/');
            if verb.is_empty() || verb.contains(['/', '{', '}', '?', '#']) {
                continue;
            }
            let desc = item.get("get").or_else(|| item.get("post"));
            paths.insert(
                format!("{rootapi}/{name}/{verb}"),
                json!({
                    "get": operation(&name, verb, desc, false),
                    "post": operation(&name, verb, desc, true),
                }),
            );
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "afb binder APIs",
            "description": "Every public API of this binder, merged from their descriptions",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "tags": tags,
        "paths": Value::Object(paths),
        "components": {
            "schemas": {
                "afb-reply": {
                    "type": "object",
                    "required": ["jtype", "request"],
                    "properties": {
                        "jtype": {"type": "string", "enum": ["afb-reply"]},
                        "request": {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string"},
                                "code": {"type": "integer"},
                                "info": {"type": "string"},
                                "uuid": {"type": "string"},
                                "token": {"type": "string"}
                            }
                        },
                        "response": {}
                    }
                }
            }
        }
    })
}

/// Serves `GET /metrics` alone on `uri` (`--metrics-interface`) until
/// `stop`. Returns once listening.
pub async fn serve_metrics(uri: &str, metrics: Arc<Metrics>, stop: CancellationToken) -> Result<(), String> {
    let addr = crate::listen::parse_interface(uri).map_err(|e| format!("--metrics-interface {uri}: {e}"))?;
    let listener = Listener::bind(&addr, &ListenOptions::default())
        .await
        .map_err(|e| format!("--metrics-interface {uri}: {e}"))?;
    tracing::info!("metrics listening on {listener}");
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("metrics accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let m = metrics.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let m = m.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &m)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => if let Err(e) = r { tracing::debug!("metrics connection: {e}") },
                    _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
                }
            });
        }
    });
    Ok(())
}

fn answer(req: &Request<Incoming>, m: &Arc<Metrics>) -> Response<Full<Bytes>> {
    let (code, ctype, body) = if req.uri().path() != "/metrics" {
        (StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found\n"))
    } else if req.method() != hyper::Method::GET {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"GET only\n"),
        )
    } else {
        (StatusCode::OK, METRICS_TYPE, Bytes::from(m.render()))
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = code;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}
