//! Open-loop runs: the closed-loop calibration round that sets their rate.

use super::end_to_end::EndToEnd;
use crate::phase::{observe, say};
use crate::scenario::Workload;
use crate::targets::Targets;
use crate::{drivers, Peer};

/// Open loop at a fraction of the maximum: one closed-loop round of native and the headline
/// endpoint, producing and then reading what they produced, and the rate is `fraction` of the
/// slowest of the four steady rates. End-to-end latency needs the consumers to keep up too: on
/// a broker whose fetch path is slower than its produce path, the pipeline's maximum is the
/// consumer's.
///
/// The maximum is the pipeline's that the open loop runs: each closed-loop producer runs with
/// the end-to-end readers its open-loop phase will have (one of its own kind, and one of the
/// other with `workload.cross_readers`). Measured alone, a producer had the machine to itself,
/// so half of its rate, with two readers and the broker beside it, asked for about 1.5 times
/// what the machine does: the tail measured the machine's queues, not the proxy.
pub(super) async fn calibrate(
    w: &Workload,
    targets: &Targets,
    headline: &Peer,
    prefix: &str,
    warmup_topic: &str,
    fraction: f64,
) -> anyhow::Result<f64> {
    let closed = Workload {
        rate_records_per_s: None,
        ..w.clone()
    };
    let native_topic = format!("{prefix}-calibrate-native");
    targets.create_topic(&native_topic, w.partitions).await?;
    say("calibrating: native produce, closed loop, with its end-to-end readers");
    let p = targets.progress();
    let (own, cross) = EndToEnd::spawn_both(targets, None, &native_topic, &closed, &p).await?;
    let run = drivers::native::produce(
        &targets.bootstrap,
        targets.schema_registry_url.as_deref(),
        drivers::native::To::plain(&native_topic, warmup_topic),
        &closed,
        &targets.clients,
        p.clone(),
    );
    let native = observe(targets, &closed, &p, ("calibrating native", w.records), run).await;
    let native = EndToEnd::attach(own, cross, native).await?;
    let topic = format!("{prefix}-calibrate-{}", headline.name);
    targets.create_topic(&topic, w.partitions).await?;
    say(&format!(
        "calibrating: {} produce, closed loop, with its end-to-end readers",
        headline.name
    ));
    let p = targets.progress();
    let (own, cross) =
        EndToEnd::spawn_both(targets, Some(&headline.url), &topic, &closed, &p).await?;
    let run = drivers::rest::produce(
        &headline.name,
        &headline.url,
        &topic,
        warmup_topic,
        &closed,
        p.clone(),
    );
    let rest = observe(targets, &closed, &p, ("calibrating REST", w.records), run).await;
    let rest = EndToEnd::attach(own, cross, rest).await?;
    say("calibrating: native and REST consume, closed loop");
    let p = targets.progress();
    let run = drivers::native::consume(
        &targets.bootstrap,
        &native_topic,
        &closed,
        &targets.clients,
        native.records,
        p.clone(),
    );
    let native_read = observe(
        targets,
        &closed,
        &p,
        ("calibrating native", native.records),
        run,
    )
    .await?;
    let p = targets.progress();
    let run = drivers::rest::consume(
        &headline.name,
        &headline.url,
        &topic,
        &closed,
        rest.records,
        p.clone(),
    );
    let rest_read = observe(
        targets,
        &closed,
        &p,
        ("calibrating REST", rest.records),
        run,
    )
    .await?;
    let rates = [
        native.rate(),
        rest.rate(),
        native_read.rate(),
        rest_read.rate(),
    ];
    let max = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let rate = (max * fraction).max(1.0);
    say(&format!(
        "calibrated: produce native {:.0} / {} {:.0}, consume native {:.0} / {} {:.0} records/s; open loop at {rate:.0} records/s ({:.0}% of the slowest)",
        rates[0], headline.name, rates[1], rates[2], headline.name, rates[3],
        fraction * 100.0
    ));
    Ok(rate)
}
