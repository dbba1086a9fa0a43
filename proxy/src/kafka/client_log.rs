//! librdkafka's own log lines and error callbacks, summarised: the same line (digits aside, so
//! ports, counts and timings do not make it new) is logged once per 30 s per process, and the
//! next one after that says how many were held back. With a broker down, librdkafka reports
//! every failed connection attempt of every client (about 150 lines in 15 s before this); the
//! log now carries one line per kind of failure and window. Every client the proxy makes uses a
//! context that routes here ([`QuietContext`], or its own context's `log`/`error`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

/// The tracing target the client library's own log lines arrive under (`warn` by default).
pub const LOG_TARGET: &str = "librdkafka";

/// How long the same line is held back after it was logged.
const WINDOW: Duration = Duration::from_secs(30);
/// The most distinct lines remembered (older ones are forgotten, then logged again).
const KINDS: usize = 1024;

struct Seen {
    logged_at: Instant,
    held_back: u64,
}

fn seen() -> &'static Mutex<HashMap<String, Seen>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Seen>>> = OnceLock::new();
    SEEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A line's kind: its text with every run of digits made one `#`.
fn kind(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            out.push(c);
            digits = false;
        }
    }
    out
}

/// Whether to log a line of `kind` now, and how many like it were held back since the last.
fn admit(kind: String, now: Instant) -> Option<u64> {
    let mut seen = seen().lock().unwrap_or_else(|e| e.into_inner());
    if seen.len() >= KINDS && !seen.contains_key(&kind) {
        seen.retain(|_, s| now.duration_since(s.logged_at) < WINDOW);
        if seen.len() >= KINDS {
            seen.clear();
        }
    }
    match seen.get_mut(&kind) {
        Some(s) if now.duration_since(s.logged_at) < WINDOW => {
            s.held_back += 1;
            None
        }
        Some(s) => {
            let held_back = s.held_back;
            s.logged_at = now;
            s.held_back = 0;
            Some(held_back)
        }
        None => {
            seen.insert(
                kind,
                Seen {
                    logged_at: now,
                    held_back: 0,
                },
            );
            Some(0)
        }
    }
}

/// A librdkafka log line, summarised.
pub fn log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    let Some(held_back) = admit(kind(&format!("{fac} {message}")), Instant::now()) else {
        return;
    };
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: LOG_TARGET, fac, held_back, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: LOG_TARGET, fac, held_back, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: LOG_TARGET, fac, held_back, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: LOG_TARGET, fac, held_back, "{message}"),
    }
}

/// The last time a cluster refused a client's credentials (librdkafka's `_AUTHENTICATION`), and
/// its reason: requests that then fail to reach Kafka say so instead of "broker not available".
static AUTHENTICATION_FAILURE: Mutex<Option<(Instant, String)>> = Mutex::new(None);

/// The reason of an authentication failure seen within `within`, if any.
pub fn recent_authentication_failure(within: std::time::Duration) -> Option<String> {
    let last = AUTHENTICATION_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    last.as_ref()
        .filter(|(at, _)| at.elapsed() <= within)
        .map(|(_, reason)| reason.clone())
}

/// A librdkafka error callback (a client-wide error such as every broker being down), summarised.
pub fn error(error: KafkaError, reason: &str) {
    if error.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::Authentication) {
        *AUTHENTICATION_FAILURE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), reason.to_string()));
    }
    if let Some(held_back) = admit(kind(&format!("error {error} {reason}")), Instant::now()) {
        tracing::warn!(target: LOG_TARGET, %error, held_back, "{reason}");
    }
}

/// The context of the clients that need no callbacks of their own (admin, metadata, the
/// registry's log): librdkafka's lines summarised.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self::error(error, reason);
    }
}

impl ConsumerContext for QuietContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_line_is_logged_once_per_window() {
        let start = Instant::now();
        let line = |port: u16| {
            kind(&format!(
                "FAIL 127.0.0.1:{port}/bootstrap: Connect failed after {}ms",
                port / 7
            ))
        };
        assert_eq!(line(9), line(19999), "digits do not make a line new");
        let k = format!("test-{:?}", start);
        assert_eq!(admit(k.clone(), start), Some(0));
        assert_eq!(admit(k.clone(), start + Duration::from_secs(1)), None);
        assert_eq!(admit(k.clone(), start + Duration::from_secs(2)), None);
        assert_eq!(
            admit(k.clone(), start + WINDOW + Duration::from_secs(1)),
            Some(2)
        );
        assert_eq!(admit(format!("{k} other"), start), Some(0));
    }
}
