//! `http.max.concurrent.requests`, as a tower layer of the shared stack
//! ([`super::layers::stack`]): a request that finds the server's maximum already in progress is
//! answered 429 at once rather than queued behind them. (tower's `ConcurrencyLimit` queues, and
//! its `LoadShed` answers with an error instead of the API's JSON.) A service rather than
//! `axum::middleware::from_fn`, which boxes the inner service and the future on every request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use super::error::{Api, ApiError};

/// Adds [`Limit`] around a service: at most `max` requests in progress through it.
#[derive(Clone)]
pub struct LimitLayer {
    permits: Arc<Semaphore>,
    api: Api,
}

impl LimitLayer {
    pub fn new(max: usize, api: Api) -> Self {
        LimitLayer {
            permits: Arc::new(Semaphore::new(max)),
            api,
        }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            layer: self.clone(),
        }
    }
}

/// Holds a permit while the inner service answers; refuses with 429 when none is left.
#[derive(Clone)]
pub struct Limit<S> {
    inner: S,
    layer: LimitLayer,
}

impl<S> Service<Request> for Limit<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.layer.permits.clone().try_acquire_owned() {
            Ok(permit) => LimitFuture {
                inner: Some(self.inner.call(request)),
                busy: None,
                permit: Some(permit),
            },
            Err(_) => LimitFuture {
                inner: None,
                busy: Some(ApiError::too_busy().for_api(self.layer.api).into_response()),
                permit: None,
            },
        }
    }
}

pin_project! {
    /// The inner service's future with its permit, or the 429 answer.
    pub struct LimitFuture<F> {
        #[pin]
        inner: Option<F>,
        busy: Option<Response>,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl<F> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(busy) = this.busy.take() {
            return Poll::Ready(Ok(busy));
        }
        match this.inner.as_pin_mut() {
            Some(inner) => {
                let answer = std::task::ready!(inner.poll(cx));
                // The request is no longer in progress once its answer is ready.
                this.permit.take();
                Poll::Ready(answer)
            }
            // Polled again after it completed: a contract breach by the caller.
            None => Poll::Pending,
        }
    }
}
