//! The HTTP/1.1 server under both HTTP front ends (the REST API and the built-in registry), with
//! the bounds a client cannot lift: at most `http.max.connections` open connections per server
//! (further ones wait in the kernel's accept queue), `http.header.read.timeout.ms` to wait for
//! and read each request's headers (which also ends idle keep-alive connections and slow-header
//! clients), a cap on requests in progress (`http.max.concurrent.requests`, answered 429 at once)
//! and a time limit on reading a request body (`http.request.body.timeout.ms`, answered 408).
//!
//! axum's own `serve` exposes none of these, so connections are served with hyper directly.
//! [`read_body`] is the body-reading bound both front ends use, each answering in its own shape.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connection-level bounds of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets every open connection finish
/// its request in progress (idle ones close at once) and returns when all have closed.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // back off briefly instead of spinning.
                    tracing::warn!(error = %err, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Requests in progress, shared by a server's middleware.
#[derive(Clone)]
pub struct ConcurrencyLimit {
    permits: Arc<Semaphore>,
    refuse: fn() -> Response,
}

impl ConcurrencyLimit {
    /// At most `max` requests at once; `refuse` answers the others.
    pub fn new(max: usize, refuse: fn() -> Response) -> Self {
        ConcurrencyLimit {
            permits: Arc::new(Semaphore::new(max)),
            refuse,
        }
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): refuses a request at once when the server
/// already has its maximum in progress, rather than queueing it behind them.
pub async fn limit_concurrency(
    State(limit): State<ConcurrencyLimit>,
    request: Request,
    next: Next,
) -> Result<Response, Infallible> {
    let Ok(_permit) = limit.permits.clone().try_acquire_owned() else {
        return Ok((limit.refuse)());
    };
    Ok(next.run(request).await)
}

/// Why a request body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Announced (Content-Length) or found larger than the limit.
    TooLarge,
    /// Not received within the time limit.
    TimedOut,
    /// The connection failed while reading.
    Failed(String),
}

/// Reads a whole request body of at most `max_bytes`, in at most `timeout` in all (a slow drip
/// cannot hold the connection and its buffer). An announced Content-Length over the limit is
/// refused before anything is read.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let reading = Limited::new(body, max_bytes).collect();
    match tokio::time::timeout(timeout, reading).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge)
        }
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}
