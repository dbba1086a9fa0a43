//! Per-principal rate limits (`rate.limit.enable`, Confluent's key, with
//! `rate.limit.permits.per.sec` and `rate.limit.burst`): a token bucket per principal (the
//! BASIC user, else the client certificate's subject; every anonymous request shares one
//! bucket), checked by the layer stack
//! before a request reaches its handler, produce included. Over the limit, 429 with
//! `Retry-After` (whole seconds until a token is back) in the API's error shape. The buckets of
//! principals idle for a minute are forgotten, so the map stays as small as the active users.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{Api, ApiError};
use super::principal::principal_of;

/// The limit: `rate` requests per second per principal, bursts of up to `burst`.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Principals idle this long lose their bucket (it would be full again anyway).
const FORGET_AFTER: Duration = Duration::from_secs(60);

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        RateLimit {
            rate: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `principal` at `now`; Err with the wait until one is back.
    pub fn take(&self, principal: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.at) < FORGET_AFTER);
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.rate)
            .min(self.burst);
        bucket.at = now;
        if refilled >= 1.0 {
            bucket.tokens = refilled - 1.0;
            Ok(())
        } else {
            bucket.tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.rate))
        }
    }
}

/// The layer: a token per request, or 429 with `Retry-After`.
pub async fn limit(
    State((limit, api)): State<(Arc<RateLimit>, Api)>,
    request: Request,
    next: Next,
) -> Response {
    // Probes are never limited (`rest/health.rs`).
    if matches!(request.uri().path(), "/healthy" | "/ready") {
        return next.run(request).await;
    }
    let principal = principal_of(request.extensions()).unwrap_or("");
    match limit.take(principal, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let mut response = ApiError::rate_limited().for_api(api).into_response();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_per_principal() {
        let limit = RateLimit::new(2, 2);
        let t0 = Instant::now();
        assert!(limit.take("alice", t0).is_ok());
        assert!(limit.take("alice", t0).is_ok());
        let wait = limit.take("alice", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        // Another principal has its own bucket.
        assert!(limit.take("bob", t0).is_ok());
        // Half a second later alice has one token again.
        assert!(limit.take("alice", t0 + Duration::from_millis(500)).is_ok());
        assert!(limit
            .take("alice", t0 + Duration::from_millis(500))
            .is_err());
    }
}
