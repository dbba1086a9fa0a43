//! One access-log line, as the proxy logs it per request (`proxy/src/http/observe.rs`): through
//! tracing-subscriber's plain-text and JSON formats, and through `logs::access_line::Lines`,
//! which writes the same bytes by hand. The lines go to `io::sink`, so this is the formatting and the
//! subscriber's dispatch, not the writing out (a thread of its own does that in the proxy).

use criterion::{criterion_group, criterion_main, Criterion};
use kafka_proxy::logs::access_line::Lines;
use tracing_subscriber::fmt::format::{Format, Full};
use tracing_subscriber::fmt::time::SystemTime;

/// A request's access line, with the fields `Observe` gives it.
fn one_line() {
    let (status, us) = (200u16, 490u64);
    tracing::info!(target: "access", api = "rest", method = "POST", path = "/topics/t1",
        status, bytes = Some(119u64), us, principal = None::<&str>);
}

fn access_line(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_line");
    let tracing = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_ansi(false)
        .event_format(Format::<Full, SystemTime>::default())
        .finish();
    tracing::subscriber::with_default(tracing, || {
        group.bench_function("tracing_subscriber", |b| b.iter(one_line));
    });
    let by_hand = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_ansi(false)
        .event_format(Lines::default())
        .finish();
    tracing::subscriber::with_default(by_hand, || {
        group.bench_function("by_hand", |b| b.iter(one_line));
    });
    // `log.format=json`: the event's fields flattened into each line's object.
    let json = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .finish();
    tracing::subscriber::with_default(json, || {
        group.bench_function("json/tracing_subscriber", |b| b.iter(one_line));
    });
    let json_by_hand = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .event_format(Lines::json())
        .finish();
    tracing::subscriber::with_default(json_by_hand, || {
        group.bench_function("json/by_hand", |b| b.iter(one_line));
    });
    group.finish();
}

criterion_group!(benches, access_line);
criterion_main!(benches);
