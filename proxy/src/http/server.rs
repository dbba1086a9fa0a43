//! The HTTP server under both HTTP front ends (the REST API and the built-in registry), with
//! the connection-level bounds a client cannot lift: at most `http.max.connections` open
//! connections per server (further ones wait in the kernel's accept queue), and
//! `http.header.read.timeout.ms` to wait for and read each HTTP/1.1 request's headers (which
//! also ends idle keep-alive connections and slow-header clients). Request-level behaviour is
//! the layer stack in [`super::layers`].
//!
//! With `http2.enabled` (the default, as Confluent's), each connection speaks HTTP/1.1 or
//! HTTP/2 ([`super::protocol`]): h2c by prior knowledge on `http://` listeners (told by its first
//! bytes, within `http.header.read.timeout.ms`), and h2 when TLS's ALPN picked it on `https://`
//! ones. An HTTP/2 connection carries at most
//! `http2.max.concurrent.streams` requests at once. One on which no request started for
//! `http.header.read.timeout.ms` is asked to finish (GOAWAY, [`super::idle`]): the HTTP/2 form of
//! HTTP/1.1's keep-alive timeout. While requests run, it is pinged after twice that time without
//! a frame, and closed when a ping goes unanswered for that time: a dead peer's connection does
//! not hold its slot through a long poll either.
//!
//! axum's own `serve` exposes none of these, so connections are served with hyper directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::idle::Idle;
use super::protocol::{self, Protocol};
use crate::tls::HttpTls;
use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::add_extension::AddExtension;

/// Connection-level bounds of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// `http2.enabled`: HTTP/2 beside HTTP/1.1, with at most this many streams per connection;
    /// `None` for HTTP/1.1 only.
    pub http2_max_streams: Option<u32>,
}

/// The connection builders every connection of a server shares.
struct Builders {
    http1: http1::Builder,
    http2: Option<http2::Builder<TokioExecutor>>,
    header_read_timeout: Duration,
}

impl Builders {
    fn new(limits: Limits) -> Builders {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let h2 = limits.http2_max_streams.map(|streams| {
            let mut h2 = http2::Builder::new(TokioExecutor::new());
            h2.timer(TokioTimer::new())
                .max_concurrent_streams(streams)
                .keep_alive_interval(limits.header_read_timeout * 2)
                .keep_alive_timeout(limits.header_read_timeout);
            h2
        });
        Builders {
            http1: h1,
            http2: h2,
            header_read_timeout: limits.header_read_timeout,
        }
    }
}

/// Serves `router` (with [`super::layers::before_routing`] around it) on `listener` until `stop`
/// is cancelled, then lets every open connection finish its request in progress (idle ones close
/// at once) and returns when all have closed. With `tls`, each connection first completes a TLS
/// handshake (within `http.header.read.timeout.ms`): an `https://` listener.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
    tls: Option<Arc<HttpTls>>,
) {
    let app = super::layers::before_routing(router);
    let builders = Arc::new(Builders::new(limits));
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
        let app = app.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        let builders = builders.clone();
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let protocol = match builders.http2 {
                        None => Some(Protocol::Http1),
                        Some(_) => protocol::of_plain(&stream, builders.header_read_timeout).await,
                    };
                    let Some(protocol) = protocol else {
                        tracing::debug!(%peer, "no request within the header timeout");
                        return;
                    };
                    let service = TowerToHyperService::new(app);
                    serve_connection(&builders, protocol, stream, service, stop, peer).await
                }
                Some(tls) => {
                    let handshake = tokio::time::timeout(
                        builders.header_read_timeout,
                        tls.acceptor().accept(stream),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            let session = stream.get_ref().1;
                            let protocol = protocol::of_alpn(session.alpn_protocol());
                            // The client certificate's subject rides on every request of the
                            // connection ([`super::principal::TlsPeer`]).
                            let subject = crate::tls::peer_subject(session);
                            let service = TowerToHyperService::new(AddExtension::new(
                                app,
                                super::principal::TlsPeer(subject.map(Arc::from)),
                            ));
                            serve_connection(&builders, protocol, stream, service, stop, peer).await
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves one connection (plain or TLS) in `protocol` until it ends or `stop` asks it to finish.
async fn serve_connection<IO, S>(
    builders: &Builders,
    protocol: Protocol,
    io: IO,
    service: TowerToHyperService<S>,
    stop: CancellationToken,
    peer: std::net::SocketAddr,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    TowerToHyperService<S>: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
        > + Clone
        + Send
        + 'static,
    <TowerToHyperService<S> as hyper::service::Service<hyper::Request<hyper::body::Incoming>>>::Future: Send + 'static,
    <TowerToHyperService<S> as hyper::service::Service<hyper::Request<hyper::body::Incoming>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(io);
    let result = match (protocol, &builders.http2) {
        (Protocol::Http2, Some(h2)) => {
            let idle = Idle::starting_now();
            let conn = h2.serve_connection(io, idle.watch(service));
            let idle_for = idle.elapsed(builders.header_read_timeout);
            until_stopped(conn, |c| c.graceful_shutdown(), idle_for, stop).await
        }
        _ => {
            // hyper ends an idle HTTP/1.1 connection itself (`header_read_timeout`).
            let conn = builders.http1.serve_connection(io, service);
            let never = std::future::pending();
            until_stopped(conn, |c| c.graceful_shutdown(), never, stop).await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
    }
}

/// Runs `conn` to its end; once `stop` is cancelled or `idle` resolves, asks it to finish what
/// it has started (`shutdown`: hyper's `graceful_shutdown`; an HTTP/2 connection sends GOAWAY)
/// and waits for that.
async fn until_stopped<C>(
    conn: C,
    shutdown: impl FnOnce(Pin<&mut C>),
    idle: impl Future<Output = ()>,
    stop: CancellationToken,
) -> hyper::Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.cancelled() => {
            shutdown(conn.as_mut());
            conn.await
        }
        _ = idle => {
            shutdown(conn.as_mut());
            conn.await
        }
    }
}
