//! The web server: an axum app on a tokio runtime of its own thread, reading the latest
//! [`Snapshot`] (never the schedulers' state). Routes: the pages (`/status`, `/graph`,
//! `/failures`; `/` leads to `/status`), the JSON API under `/api/v1/`, server-sent
//! events of snapshots at `/api/v1/stream` (at most [`UPDATES_PER_SECOND`]), Prometheus
//! `/metrics` and `/health`.
//!
//! Off loopback the data routes ask for the token (`?token=` or `Authorization: Bearer`);
//! the pages ask the user for it when the data refuses them, and pass it on.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use tokio::sync::watch;

use crate::aggregate::Snapshot;
use crate::metrics::render_metrics;

/// Snapshots a page receives per second, at most.
pub const UPDATES_PER_SECOND: u32 = 2;

/// What the handlers share: the latest snapshot, and the token asked for off loopback.
#[derive(Clone)]
pub(crate) struct AppState {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub token: Option<Arc<str>>,
}

/// The app's routes: the pages and their assets (which hold no data) and `/health` are
/// open; the data (`/api/v1/...`, `/metrics`) asks for the token off loopback.
pub(crate) fn router(state: AppState) -> Router {
    let data = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/groups", get(|s: State<AppState>| async move { json(&latest(&s).groups) }))
        .route("/api/v1/workers", get(|s: State<AppState>| async move { json(&latest(&s).workers) }))
        .route("/api/v1/tasks", get(|s: State<AppState>| async move { json(&latest(&s).stream) }))
        .route("/api/v1/failures", get(|s: State<AppState>| async move { json(&latest(&s).failures) }))
        .route("/api/v1/graph", get(|s: State<AppState>| async move { json(&latest(&s).edges) }))
        .route("/api/v1/snapshot", get(|s: State<AppState>| async move { json(&*latest(&s)) }))
        .route("/api/v1/stream", get(stream))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/status") }))
        .route("/status", get(|| async { page(include_str!("../assets/status.html")) }))
        .route("/graph", get(|| async { page(include_str!("../assets/graph.html")) }))
        .route("/failures", get(|| async { page(include_str!("../assets/failures.html")) }))
        .route(
            "/assets/dashboard.js",
            get(|| async { asset("text/javascript", include_str!("../assets/dashboard.js")) }),
        )
        .route("/assets/dashboard.css", get(|| async { asset("text/css", include_str!("../assets/dashboard.css")) }))
        .route("/health", get(|| async { "ok" }))
        .merge(data)
        .with_state(state)
}

fn latest(state: &AppState) -> Arc<Snapshot> {
    state.snapshots.borrow().clone()
}

fn page(html: &'static str) -> Response {
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")).into_response(),
    }
}

/// The totals and the computation's state, without the lists.
async fn status(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    json(&serde_json::json!({
        "at_ms": s.at_ms,
        "scheduler": s.scheduler,
        "running": s.running,
        "runs_finished": s.runs_finished,
        "runs_failed": s.runs_failed,
        "elapsed_s": s.elapsed_s,
        "totals": s.totals,
        "workers": s.workers.iter().filter(|w| w.left.is_none()).count(),
        "groups": s.groups.len(),
    }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = render_metrics(&latest(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Each new snapshot as a server-sent event `snapshot` (JSON), at most
/// [`UPDATES_PER_SECOND`] a second; the first at once.
async fn stream(State(state): State<AppState>) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let period = Duration::from_secs(1) / UPDATES_PER_SECOND;
    let snapshots = state.snapshots.clone();
    let events = futures_util::stream::unfold((snapshots, true), move |(mut snapshots, first)| async move {
        if !first {
            tokio::time::sleep(period).await;
            // Ends the stream when the dashboard stops.
            snapshots.changed().await.ok()?;
        }
        let snapshot = snapshots.borrow_and_update().clone();
        let data = serde_json::to_string(&*snapshot).unwrap_or_else(|_| "{}".to_string());
        Some((Ok(SseEvent::default().event("snapshot").data(data)), (snapshots, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Refuses a request without the token, when one is asked for.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else { return next.run(request).await };
    let from_query = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")))
        .is_some_and(|t| t == &**token);
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == &**token);
    if from_query || from_header {
        return next.run(request).await;
    }
    (StatusCode::UNAUTHORIZED, "this dashboard asks for the cluster's token (?token=...)").into_response()
}

/// Binds `address` on `runtime` (an error if it cannot); the listener and the address
/// bound (the port chosen, for port 0).
pub(crate) fn bind(
    runtime: &tokio::runtime::Runtime,
    address: SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address))?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}
