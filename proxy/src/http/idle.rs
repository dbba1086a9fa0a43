//! HTTP/2's idle timeout. hyper ends an idle HTTP/1.1 keep-alive connection itself (after
//! `http.header.read.timeout.ms` without a request), but has no such bound for HTTP/2. Here a
//! connection notes when each request starts ([`Touched`]), and [`Idle::elapsed`] resolves once
//! none started for the timeout; the server then asks the connection to finish (GOAWAY), which
//! lets requests in progress (a long poll, a v3 stream) complete and tells the client to open a
//! new connection for its next one, as Jetty's idle timeout does under Confluent's proxy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// When a connection's last request started.
#[derive(Clone)]
pub struct Idle {
    born: Instant,
    /// Milliseconds from `born` to the last request's start (0 before the first).
    last: Arc<AtomicU64>,
}

impl Idle {
    /// A connection that starts now.
    pub fn starting_now() -> Idle {
        Idle {
            born: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// Resolves once no request has started for `timeout`.
    pub async fn elapsed(&self, timeout: Duration) {
        loop {
            let last = self.born + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let due = last + timeout;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }

    /// `service`, noting here when each of its requests starts.
    pub fn watch<S>(&self, service: S) -> Touched<S> {
        Touched {
            inner: service,
            idle: self.clone(),
        }
    }
}

/// A hyper service that notes when each request starts ([`Idle::watch`]).
#[derive(Clone)]
pub struct Touched<S> {
    inner: S,
    idle: Idle,
}

impl<S, R> hyper::service::Service<R> for Touched<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: R) -> Self::Future {
        self.idle.touch();
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl hyper::service::Service<u32> for Echo {
        type Response = u32;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<u32, Self::Error>>;

        fn call(&self, request: u32) -> Self::Future {
            std::future::ready(Ok(request))
        }
    }

    #[tokio::test]
    async fn a_request_puts_the_timeout_off() {
        let idle = Idle::starting_now();
        let service = idle.watch(Echo);
        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let waiting = tokio::spawn({
            let idle = idle.clone();
            async move {
                idle.elapsed(timeout).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(hyper::service::Service::call(&service, 7).await.unwrap(), 7);
        let waited = waiting.await.unwrap();
        // Without the request it would have been 300 ms.
        assert!(
            waited >= Duration::from_millis(500) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        // With no request at all, the timeout runs from the connection's start.
        let fresh = Idle::starting_now();
        let start = Instant::now();
        fresh.elapsed(timeout).await;
        let waited = start.elapsed();
        assert!(
            waited >= timeout && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }
}
