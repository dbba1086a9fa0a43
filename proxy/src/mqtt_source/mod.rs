//! MQTT sources: the proxy subscribes to remote MQTT brokers (`mqtt.server.uri`,
//! `mqtt.topics`) and forwards every message into Kafka, as the MQTT source connector does, but
//! without losing one: a QoS 1 or 2 message is acknowledged to the remote broker only once Kafka
//! has acknowledged its record, in the order the messages came ([`window`]), and the session is
//! persistent (`mqtt.clean.session.enabled=false`), so what is published while the proxy is
//! away, or was not acknowledged, is delivered again when it returns.
//!
//! Records: key = the MQTT topic, value = the payload unchanged, headers `mqtt.topic`,
//! `mqtt.qos` and `mqtt.retained` (and MQTT 5's user properties, content type and correlation
//! data, [`protocol`]); the Kafka topic is `kafka.topic`, or the first
//! `topic.regex.list` rule matching the MQTT topic. Writes go through the MQTT listener's
//! writers ([`crate::mqtt::routes`]), so one MQTT topic's messages stay in order in Kafka.
//!
//! [`session`] runs one source: connect (TLS for `ssl://`), subscribe, forward, and on any
//! failure reconnect with exponential backoff and jitter, trying the next server URI.

mod protocol;
mod session;
mod window;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::App;

/// Starts every configured source; each runs until `token` is cancelled.
pub fn start(app: &Arc<App>, token: &CancellationToken) -> Vec<JoinHandle<()>> {
    app.config
        .mqtt_sources
        .iter()
        .map(|source| tokio::spawn(session::run(app.clone(), source.clone(), token.clone())))
        .collect()
}
