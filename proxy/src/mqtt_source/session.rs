//! One MQTT source's life: connect to a server (`ssl://` with TLS), subscribe to its filters,
//! hand the messages to their Kafka topics' writers (what one read brought as one chunk per
//! lane, like the MQTT listener), acknowledge QoS 1 and 2 messages once in
//! Kafka ([`super::window`]), and on any failure (the connection lost, refused, or a message
//! Kafka did not take) start again with the next server after a backoff (250 ms doubling to
//! 30 s, with jitter; reset once a connection has got messages into Kafka).
//!
//! rumqttc's event loop both reads messages and sends the acknowledgements queued through its
//! client, so it is polled without pause; its poll future is kept across the `select!` rather
//! than dropped half-way (a write it started is never cut). Memory is bounded by the remote
//! broker's in-flight limit for QoS 1 and 2 (unacknowledged messages are not sent beyond it)
//! and, for QoS 0, by the writers' bounded queues: when they are full the source stops
//! reading, and the broker's socket pushes back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Incoming, Message};
use super::window::Window;
use crate::config::{MqttSource, ServerUri};
use crate::mqtt::batcher::{self, Settled, Stats};
use crate::mqtt::chunk::Publish;
use crate::mqtt::routes::{Pending, Routes};
use crate::state::{App, SourceState};

/// How a connection ended.
enum Ended {
    Cancelled,
    /// `progressed`: the connection got messages into Kafka (the backoff starts over).
    Lost {
        progressed: bool,
        why: String,
    },
}

/// The delay before connection attempt `attempt` (1, 2, ...): 250 ms doubling to 30 s, each
/// between half and all of it (`jitter` in 0..1).
fn backoff(attempt: u32, jitter: f64) -> Duration {
    let full = Duration::from_millis(250)
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(Duration::from_secs(30));
    full.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in 0..1 that differs between calls and processes.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `source` until `token` is cancelled.
pub async fn run(app: Arc<App>, source: MqttSource, token: CancellationToken) {
    let stats = Arc::new(Stats::default());
    let mut writers = Vec::new();
    let routes = Routes::start(
        &app,
        &source.topic_rules,
        source.kafka_topic.as_deref(),
        &stats,
        &mut writers,
    );
    let tls = if source.servers.iter().any(|s| s.tls) {
        fn key<'a>(
            k: &'static str,
            v: &'a Option<std::path::PathBuf>,
        ) -> Option<(&'a str, &'a str)> {
            v.as_ref().and_then(|p| p.to_str()).map(|p| (k, p))
        }
        match crate::client_tls::client_config(crate::client_tls::ClientTlsFiles {
            ca: key("mqtt.ssl.ca.location", &source.ssl_ca),
            certificate: key("mqtt.ssl.certificate.location", &source.ssl_certificate),
            key: key("mqtt.ssl.key.location", &source.ssl_key),
        }) {
            Ok(config) => Some(config),
            Err(why) => {
                tracing::error!(source = %source.name, %why, "MQTT source: TLS settings unusable; its ssl:// servers are skipped");
                None
            }
        }
    } else {
        None
    };
    let (mut attempt, mut next) = (0u32, 0usize);
    loop {
        let server = &source.servers[next % source.servers.len()];
        app.sources.set(
            &source.name,
            SourceState {
                connected: false,
                subscribed: false,
                server: server.to_string(),
                error: Some("connecting".into()),
            },
        );
        let ended = if server.tls && tls.is_none() {
            Ended::Lost {
                progressed: false,
                why: "no usable TLS settings".into(),
            }
        } else {
            connection(&app, &source, server, tls.clone(), &routes, &token).await
        };
        match ended {
            Ended::Cancelled => break,
            Ended::Lost { progressed, why } => {
                app.sources.set(
                    &source.name,
                    SourceState {
                        connected: false,
                        subscribed: false,
                        server: server.to_string(),
                        error: Some(why.clone()),
                    },
                );
                // A connection that got messages into Kafka was healthy: start the backoff over.
                // One that connected but failed at once (a message Kafka refuses) keeps backing
                // off, so it does not spin.
                if progressed {
                    attempt = 0;
                }
                attempt += 1;
                next += 1;
                let delay = backoff(attempt, jitter());
                tracing::warn!(
                    source = %source.name, %server, %why, retry_in_ms = delay.as_millis() as u64,
                    "MQTT source disconnected"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = token.cancelled() => break,
                }
            }
        }
    }
    // The writers finish what they hold; what was not acknowledged is delivered again.
    drop(routes);
    for w in writers {
        let _ = w.await;
    }
}

/// One connection, from CONNECT to its end.
async fn connection(
    app: &App,
    source: &MqttSource,
    server: &ServerUri,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    routes: &Routes,
    token: &CancellationToken,
) -> Ended {
    let (client, events) = protocol::open(source, server, tls);
    let (acks_tx, mut acks) = mpsc::unbounded_channel::<Settled>();
    let mut window: Window<Message> = Window::new();
    let mut progressed = false;
    let mut polling = Box::pin(events.poll());
    let mut pending = Pending::default();
    let lost = |progressed: bool, why: String| Ended::Lost { progressed, why };
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => {
                client.disconnect();
                return Ended::Cancelled;
            }
            Some(mut settled) = acks.recv() => {
                pending.recycle(settled.spent.take());
                if let Err(e) = &settled.outcome {
                    // Not acknowledged: the broker delivers it again on the next session.
                    return lost(progressed, format!("Kafka did not take a message: {e}"));
                }
                progressed = true;
                for m in window.written(settled.first, settled.last) {
                    if let Err(e) = client.ack(&m) {
                        return lost(progressed, format!("acknowledging: {e}"));
                    }
                }
            }
            (events, result) = &mut polling => {
                polling = Box::pin(events.poll());
                // One socket read brings many messages, and the event loop hands them out one
                // per poll: take every one it already holds, then queue them as one chunk per
                // run of a lane. Queued one per message, a writer's batch could hold no more
                // messages than its queue holds chunks (a third of what mosquitto delivers).
                let mut next = Some(result);
                while let Some(result) = next.take() {
                    match result {
                        Ok(Incoming::Connected { session_present }) => {
                            app.sources.set(
                                &source.name,
                                SourceState {
                                    connected: true,
                                    subscribed: false,
                                    server: server.to_string(),
                                    error: None,
                                },
                            );
                            tracing::info!(
                                source = %source.name, %server, session_present,
                                "MQTT source connected"
                            );
                            if let Err(e) = client.subscribe(&source.topics, source.qos) {
                                return lost(progressed, format!("subscribing: {e}"));
                            }
                        }
                        Ok(Incoming::Subscribed { refused }) => subscribed(app, source, server, &refused),
                        Ok(Incoming::Message(m)) => {
                            stage(source, routes, &mut window, &acks_tx, &mut pending, m);
                        }
                        Ok(Incoming::Other) => {}
                        Err(e) => {
                            // What was read before the error is still forwarded.
                            let _ = pending.queue(routes, &acks_tx).await;
                            return lost(progressed, e);
                        }
                    }
                    if pending.full() {
                        break;
                    }
                    if let Some((events, result)) = (&mut polling).now_or_never() {
                        polling = Box::pin(events.poll());
                        next = Some(result);
                    }
                }
                // Waits while a writers' queue is full: the source stops reading.
                if let Err(topic) = pending.queue(routes, &acks_tx).await {
                    return lost(progressed, format!("the writer of {topic} has stopped"));
                }
            }
        }
    }
}

/// The broker answered the subscription: `/ready` says so, and names the filters it refused.
fn subscribed(app: &App, source: &MqttSource, server: &ServerUri, refused: &[usize]) {
    let refused: Vec<&str> = refused
        .iter()
        .filter_map(|&i| source.topics.get(i).map(String::as_str))
        .collect();
    for filter in &refused {
        tracing::error!(source = %source.name, %filter, "the remote broker refused the subscription");
    }
    app.sources.set(
        &source.name,
        SourceState {
            connected: true,
            subscribed: true,
            server: server.to_string(),
            error: (!refused.is_empty()).then(|| {
                format!(
                    "the broker refused the subscription to {}",
                    refused.join(", ")
                )
            }),
        },
    );
}

/// Stages one message for its Kafka topic's writers (QoS 1 and 2 join the window first). A
/// message no rule maps is acknowledged and counted: the filters ask for more than the rules
/// place.
fn stage(
    source: &MqttSource,
    routes: &Routes,
    window: &mut Window<Message>,
    acks: &mpsc::UnboundedSender<Settled>,
    pending: &mut Pending,
    m: Message,
) {
    let topic = m.topic().into_owned();
    let level = m.qos();
    let Some(route) = routes.route(&topic) else {
        tracing::warn!(source = %source.name, %topic, "no Kafka topic for this MQTT topic: dropped");
        if level > 0 {
            let seq = window.push(m);
            let _ = acks.send(Settled {
                first: seq,
                last: seq,
                outcome: Ok(()),
                spent: None,
            });
        }
        return;
    };
    let lane = routes[route].lanes.of(topic.as_bytes());
    let qos = match level {
        0 => rmqtt_codec::types::QoS::AtMostOnce,
        1 => rmqtt_codec::types::QoS::AtLeastOnce,
        _ => rmqtt_codec::types::QoS::ExactlyOnce,
    };
    let (payload, extra) = (m.payload(), m.headers());
    let seq = (level > 0).then(|| window.push(m));
    pending.push(
        route,
        lane,
        Publish {
            mqtt_topic: &Bytes::from(topic),
            payload: &payload,
            qos,
            arrived: batcher::now_ms(),
            seq,
            extra,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(250));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(30, 1.0), Duration::from_secs(30));
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
