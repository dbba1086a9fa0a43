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

/// Times [`one_line`] under `subscriber` as `name`.
fn measure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) {
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function(name, |b| b.iter(one_line));
    });
}

fn access_line(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_line");
    let text = || {
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_ansi(false)
    };
    let tracing = text().event_format(Format::<Full, SystemTime>::default());
    measure(&mut group, "tracing_subscriber", tracing.finish());
    measure(
        &mut group,
        "by_hand",
        text().event_format(Lines::default()).finish(),
    );
    // `log.format=json`: the event's fields flattened into each line's object.
    let json = || text().json().flatten_event(true);
    measure(&mut group, "json/tracing_subscriber", json().finish());
    let json_by_hand = json().event_format(Lines::json());
    measure(&mut group, "json/by_hand", json_by_hand.finish());
    group.finish();
}

criterion_group!(benches, access_line);
criterion_main!(benches);
