//! MQTT ingestion: devices publish over MQTT 3.1.1 and each PUBLISH becomes a Kafka record
//! (key = the MQTT topic, value = the payload bytes unchanged), on the topic the first matching
//! `mqtt.topic.regex.list` rule names. The listener is publish-only, as Confluent's MQTT Proxy.
//!
//! QoS against Kafka's acks:
//! - QoS 0: produced without waiting.
//! - QoS 1: PUBACK only once Kafka has acknowledged the record.
//! - QoS 2: PUBREC once Kafka has acknowledged it; a PUBLISH repeating a packet id before its
//!   PUBREL is not produced again; PUBREL is answered with PUBCOMP.
//! - When Kafka refuses or fails a record, nothing is acknowledged: the connection is closed, so
//!   the client publishes again. Acknowledgements go out in the order the PUBLISHes came in.
//!
//! Packets are decoded by `rmqtt-codec` (strict: reserved flags, QoS 3, packet id 0, and the
//! Remaining Length cap `mqtt.message.max.bytes` are refused by closing the connection).

use std::collections::HashSet;
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, ConnectAck, ConnectAckReason, Packet, SubscribeReturnCode};
use rmqtt_codec::version::{ProtocolVersion, VersionCodec};
use rmqtt_codec::{MqttCodec, MqttPacket};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::formats::EncodedRecords;

/// One `kafka_topic:regex` pair of `mqtt.topic.regex.list`.
#[derive(Debug, Clone)]
pub struct TopicRule {
    pub kafka_topic: String,
    /// Anchored: the whole MQTT topic must match.
    pub regex: regex::Regex,
}

impl TopicRule {
    /// Parses Confluent's syntax: pairs split by `,`, each split at its first `:`, trimmed.
    pub fn parse_list(text: &str) -> Result<Vec<TopicRule>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (topic, pattern) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("`{pair}` is not kafka_topic:regex"))?;
                let (topic, pattern) = (topic.trim(), pattern.trim());
                if topic.is_empty() || pattern.is_empty() {
                    return Err(format!("`{pair}` is not kafka_topic:regex"));
                }
                let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("`{pattern}`: {e}"))?;
                Ok(TopicRule {
                    kafka_topic: topic.to_string(),
                    regex,
                })
            })
            .collect()
    }
}

/// The proxy's producer and MQTT settings, and counters an operator can read.
pub struct Ingest {
    pub app: Arc<crate::rest::App>,
    /// Publishes refused for want of a Kafka topic.
    pub unmatched: AtomicU64,
    /// Publishes Kafka acknowledged.
    pub published: AtomicU64,
}

impl Ingest {
    pub fn new(app: Arc<crate::rest::App>) -> Self {
        Ingest {
            app,
            unmatched: AtomicU64::new(0),
            published: AtomicU64::new(0),
        }
    }

    /// The Kafka topic of an MQTT topic: the first rule matching it whole, else the default.
    pub fn kafka_topic(&self, mqtt_topic: &str) -> Option<&str> {
        let config = &self.app.config;
        config
            .mqtt_topic_rules
            .iter()
            .find(|r| r.regex.is_match(mqtt_topic))
            .map(|r| r.kafka_topic.as_str())
            .or(config.mqtt_default_topic.as_deref())
    }

    /// Produces one publish; resolves once Kafka has acknowledged it (or failed it).
    async fn produce(
        &self,
        kafka_topic: &str,
        mqtt_topic: &str,
        payload: &[u8],
    ) -> Result<(), String> {
        let records = EncodedRecords::from_owned(vec![(
            Some(mqtt_topic.as_bytes().to_vec()),
            Some(payload.to_vec()),
            None,
        )]);
        let outcomes = self
            .app
            .kafka
            .producer
            .produce(kafka_topic, records)
            .await
            .map_err(|e| e.to_string())?;
        match outcomes.into_iter().next() {
            Some(Ok(_)) => {
                self.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err("no delivery report".into()),
        }
    }
}

/// Accepts MQTT connections on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, ingest: Arc<Ingest>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let ingest = ingest.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(why) = connection(stream, ingest, shutdown).await {
                        tracing::debug!(%peer, %why, "MQTT connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What an acknowledgement future yields: the packet to send, or why to close the connection.
type Ack = Result<Option<Packet>, String>;

/// A connection must send CONNECT within this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn connection(
    stream: TcpStream,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let mut framed = Framed::new(stream, MqttCodec::Version(VersionCodec));
    let version = match tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await {
        Ok(Some(Ok((MqttPacket::Version(v), _)))) => v,
        Ok(Some(Err(e))) => return Err(format!("not an MQTT CONNECT: {e}")),
        _ => return Err("no CONNECT".into()),
    };
    if version == ProtocolVersion::MQTT5 {
        // A 3.1.1 server answers an unsupported level with return code 1, then closes.
        let mut stream = framed.into_inner();
        let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x01]).await;
        return Err("MQTT 5 is not served yet".into());
    }
    *framed.codec_mut() = MqttCodec::V3(v3::Codec::new(ingest.app.config.mqtt_message_max_bytes));
    let connect = match framed.next().await {
        Some(Ok((MqttPacket::V3(Packet::Connect(c)), _))) => c,
        Some(Err(e)) => return Err(format!("malformed CONNECT: {e}")),
        _ => return Err("no CONNECT".into()),
    };
    // An empty client id is allowed only with a clean session [MQTT-3.1.3-7, -8].
    if connect.client_id.is_empty() && !connect.clean_session {
        send(&mut framed, connack(ConnectAckReason::IdentifierRejected)).await?;
        return Err("empty client id without a clean session".into());
    }
    send(&mut framed, connack(ConnectAckReason::ConnectionAccepted)).await?;
    // Keep-alive: closed after 1.5 times the interval without a packet [MQTT-3.1.2-24].
    let idle = (connect.keep_alive > 0)
        .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500));

    let mut acks: FuturesOrdered<BoxFuture<'static, Ack>> = FuturesOrdered::new();
    // QoS 2 packet ids produced and not yet released.
    let mut received: HashSet<NonZeroU16> = HashSet::new();
    let mut closing = false;
    loop {
        if closing && acks.is_empty() {
            return Ok(());
        }
        let read_deadline = async {
            match idle {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled(), if !closing => closing = true,
            Some(ack) = acks.next(), if !acks.is_empty() => {
                if let Some(packet) = ack? {
                    send(&mut framed, packet).await?;
                }
            }
            _ = read_deadline, if !closing => return Err("keep-alive expired".into()),
            packet = framed.next(), if !closing => {
                let packet = match packet {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(format!("malformed packet: {e}")),
                    Some(Ok((MqttPacket::V3(p), _))) => p,
                    Some(Ok(_)) => return Err("unexpected packet".into()),
                };
                match packet {
                    Packet::Publish(publish) => {
                        let topic = publish.topic.to_string();
                        if topic.is_empty() || topic.contains(['+', '#']) {
                            return Err(format!("invalid PUBLISH topic {topic:?}"));
                        }
                        let Some(kafka_topic) = ingest.kafka_topic(&topic).map(str::to_string) else {
                            ingest.unmatched.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(mqtt_topic = %topic, "PUBLISH matches no topic.regex.list rule and there is no default topic: closing the connection");
                            return Err(format!("no Kafka topic for {topic:?}"));
                        };
                        let payload = publish.payload.clone();
                        let ingest2 = ingest.clone();
                        match (publish.qos, publish.packet_id) {
                            (QoS::AtMostOnce, _) => {
                                tokio::spawn(async move {
                                    if let Err(e) = ingest2.produce(&kafka_topic, &topic, &payload).await {
                                        tracing::warn!(%kafka_topic, error = %e, "QoS 0 publish not produced");
                                    }
                                });
                            }
                            (QoS::AtLeastOnce, Some(packet_id)) => acks.push_back(
                                async move {
                                    ingest2
                                        .produce(&kafka_topic, &topic, &payload)
                                        .await
                                        .map(|()| Some(Packet::PublishAck { packet_id }))
                                        .map_err(|e| format!("Kafka did not take a QoS 1 publish: {e}"))
                                }
                                .boxed(),
                            ),
                            (QoS::ExactlyOnce, Some(packet_id)) => {
                                if received.insert(packet_id) {
                                    acks.push_back(
                                        async move {
                                            ingest2
                                                .produce(&kafka_topic, &topic, &payload)
                                                .await
                                                .map(|()| Some(Packet::PublishReceived { packet_id }))
                                                .map_err(|e| format!("Kafka did not take a QoS 2 publish: {e}"))
                                        }
                                        .boxed(),
                                    );
                                } else {
                                    // A repeat before PUBREL: acknowledged, not produced again.
                                    acks.push_back(ready(Packet::PublishReceived { packet_id }));
                                }
                            }
                            _ => return Err("PUBLISH without a packet id".into()),
                        }
                    }
                    Packet::PublishRelease { packet_id } => {
                        received.remove(&packet_id);
                        acks.push_back(ready(Packet::PublishComplete { packet_id }));
                    }
                    Packet::PingRequest => acks.push_back(ready(Packet::PingResponse)),
                    Packet::Subscribe { packet_id, topic_filters } => {
                        // Publish-only: every filter is refused.
                        let status = vec![SubscribeReturnCode::Failure; topic_filters.len()];
                        acks.push_back(ready(Packet::SubscribeAck { packet_id, status }));
                    }
                    Packet::Unsubscribe { packet_id, .. } => {
                        acks.push_back(ready(Packet::UnsubscribeAck { packet_id }))
                    }
                    Packet::Disconnect => closing = true,
                    Packet::Connect(_) => return Err("a second CONNECT".into()),
                    other => return Err(format!("unexpected packet {other:?}")),
                }
            }
        }
    }
}

fn ready(packet: Packet) -> BoxFuture<'static, Ack> {
    std::future::ready(Ok(Some(packet))).boxed()
}

fn connack(return_code: ConnectAckReason) -> Packet {
    Packet::ConnectAck(ConnectAck {
        return_code,
        session_present: false,
    })
}

async fn send(framed: &mut Framed<TcpStream, MqttCodec>, packet: Packet) -> Result<(), String> {
    framed
        .send(MqttPacket::V3(packet))
        .await
        .map_err(|e| format!("writing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluent_topic_regex_list() {
        let rules =
            TopicRule::parse_list("temperature:.*temperature, brightness:.*brightness,other:a:b")
                .unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules[0].regex.is_match("car/engine/temperature"));
        // The whole topic must match.
        assert!(!rules[0].regex.is_match("temperature/car"));
        assert_eq!(rules[2].kafka_topic, "other");
        assert!(rules[2].regex.is_match("a:b"), "split at the first colon");
        assert!(TopicRule::parse_list("no-colon").is_err());
        assert!(TopicRule::parse_list("t:(").is_err());
    }
}
