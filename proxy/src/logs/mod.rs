//! The process's logs: `RUST_LOG` picks what is logged (default `info`, librdkafka's own
//! messages from `warn`), as text or JSON lines (`log.format`) on stdout.
//!
//! - [`batched`]: lines are formatted by the thread that logs them and written out by a thread
//!   of their own, many lines per `write`, none dropped.
//! - [`access_line`]: the access log's lines, one per request, formatted by hand (the same
//!   bytes as tracing-subscriber's text and JSON formats, at a fraction of their cost).
//!
//! Colours only when stdout is a terminal: a file or a collector gets plain text.

pub mod access_line;
pub mod batched;

use std::io::IsTerminal;

pub use batched::{Batched, Guard, FLUSH_AT, FLUSH_EVERY, LIMIT};

/// Installs the logger. Keep the guard until the process ends.
pub fn init(json: bool) -> Guard<std::io::Stdout> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| format!("info,{}=warn", crate::kafka::LOG_TARGET).into());
    let stdout = std::io::stdout();
    let ansi = stdout.is_terminal();
    let (writer, guard) = Batched::start(stdout);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    if json {
        logs.json()
            .flatten_event(true)
            .event_format(access_line::Lines::json())
            .init();
    } else {
        logs.event_format(access_line::Lines::default()).init();
    }
    guard
}
