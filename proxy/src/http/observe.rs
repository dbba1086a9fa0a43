//! Each request's metrics and access-log line, as a tower layer of the shared stack
//! ([`super::layers::stack`]):
//! - `kafka_proxy_http_requests_total` by API, method, route and status, and
//!   `kafka_proxy_http_request_duration_us` by API and route. The route is its pattern, so that
//!   paths with names do not make a series each.
//! - With `http.access.log`, an `INFO` line under the `access` target: method, path, status,
//!   body bytes, µs to the answer's headers and the authenticated principal.
//!
//! Written as a service rather than with `axum::middleware::from_fn` because this runs on every
//! request: `from_fn` boxes the inner service and the future per call, and the `metrics!` macros
//! build, hash and look up a labelled key per call. Here the future is the inner one wrapped in
//! place, and the metric handles of each (API, method, route, status) are looked up once and
//! kept ([`Handles`]; the labels are a bounded set: route patterns, known methods, statuses).
//! `cargo bench -p proxy-benches --bench http_stack` measures it (README, "Performance").

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::error::Api;
use super::principal::{Principal, TlsPeer};

/// Adds [`Observe`] around a service.
#[derive(Clone)]
pub struct ObserveLayer {
    api: Api,
    access_log: bool,
    handles: Arc<Handles>,
}

impl ObserveLayer {
    pub fn new(api: Api, access_log: bool) -> Self {
        ObserveLayer {
            api,
            access_log,
            handles: Arc::default(),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            layer: self.clone(),
        }
    }
}

/// Records each request's metrics and access-log line once its answer is ready.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    layer: ObserveLayer,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response<B>>,
    B: HttpBody,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let path = self
            .layer
            .access_log
            .then(|| request.uri().path().to_owned());
        let peer = path
            .is_some()
            .then(|| request.extensions().get::<TlsPeer>().cloned())
            .flatten();
        ObserveFuture {
            inner: self.inner.call(request),
            started,
            method,
            route,
            path,
            peer,
            layer: self.layer.clone(),
        }
    }
}

pin_project! {
    /// The inner service's future, observed when it completes.
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
        path: Option<String>,
        peer: Option<TlsPeer>,
        layer: ObserveLayer,
    }
}

impl<F, B, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Ready(Ok(response)) => response,
        };
        let us = this.started.elapsed().as_micros() as u64;
        let status = response.status().as_u16();
        let layer = &*this.layer;
        let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        layer
            .handles
            .record(layer.api, this.method, route, status, us);
        if let Some(path) = this.path.take() {
            let principal = response
                .extensions()
                .get::<Principal>()
                .map(|p| p.0.as_str())
                .or_else(|| this.peer.as_ref().and_then(|p| p.0.as_deref()));
            tracing::info!(
                target: "access",
                api = layer.api.name(),
                method = *this.method,
                path,
                status,
                bytes = response.body().size_hint().exact(),
                us,
                principal,
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// The metric handles of one (method, status) under a route.
struct Entry {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// The metric handles seen so far, by route pattern, for one API. Read-locked on every request
/// (uncontended after warm-up); written when a (route, method, status) is first seen.
#[derive(Default)]
struct Handles {
    by_route: RwLock<HashMap<Box<str>, Vec<Entry>>>,
}

impl Handles {
    /// Counts one answered request and its µs to the answer.
    fn record(&self, api: Api, method: &'static str, route: &str, status: u16, us: u64) {
        let observe = |entries: &Vec<Entry>| {
            let entry = entries
                .iter()
                .find(|e| e.method == method && e.status == status)?;
            entry.requests.increment(1);
            entry.duration.record(us as f64);
            Some(())
        };
        let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        if by_route.get(route).and_then(observe).is_some() {
            return;
        }
        drop(by_route);
        let mut by_route = self
            .by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entries = by_route.entry(route.into()).or_default();
        if observe(entries).is_none() {
            entries.push(Entry {
                method,
                status,
                requests: metrics::counter!(
                    crate::telemetry::HTTP_REQUESTS,
                    "api" => api.name(),
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.to_string(),
                ),
                duration: metrics::histogram!(
                    crate::telemetry::HTTP_DURATION,
                    "api" => api.name(),
                    "route" => route.to_owned(),
                ),
            });
            observe(entries);
        }
    }
}

/// A request method as a metric label: the standard methods by name, any other as `other`, so
/// that clients inventing methods cannot add series without end.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}
