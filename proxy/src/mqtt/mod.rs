//! MQTT ingestion: devices publish over MQTT 3.1.1 or 5 and each PUBLISH becomes a Kafka record
//! (key = the MQTT topic, value = the payload bytes unchanged, headers `mqtt.topic` and
//! `mqtt.qos`, CreateTime = arrival), on the topic the first matching `mqtt.topic.regex.list`
//! rule names. The listener is publish-only, as Confluent's MQTT Proxy.
//!
//! QoS against Kafka's acks:
//! - QoS 0: produced without waiting.
//! - QoS 1: PUBACK only once Kafka has acknowledged the record.
//! - QoS 2: PUBREC once Kafka has acknowledged it; a PUBLISH repeating a packet id before its
//!   PUBREL is not produced again; PUBREL is answered with PUBCOMP.
//! - When Kafka refuses or fails a record, it is not acknowledged as delivered: MQTT 5 answers
//!   with reason 0x80, 3.1.1 (which has no error acks) closes the connection so the client
//!   publishes again. Acknowledgements go out in the order the PUBLISHes came in.
//! - A publish no rule maps (and no default topic): MQTT 5 answers 0x90 (QoS 0: dropped), 3.1.1
//!   closes the connection; either way it is logged and counted.
//!
//! Publishes of all connections are written to Kafka in batches ([`batcher`]).
//!
//! Listeners are plain (`tcp://`) or TLS (`ssl://`, [`tls`]); CONNECT may be checked against a
//! credentials file ([`auth`]); `mqtt.max.connections` caps open connections.
//!
//! Packets are decoded by `rmqtt-codec` (strict: reserved flags, QoS 3, packet id 0, and the
//! Remaining Length cap `mqtt.message.max.bytes` are refused by closing the connection).

pub mod auth;
pub mod batcher;
mod packets;
pub mod tls;

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, ConnectAck, ConnectAckReason, Packet};
use rmqtt_codec::v5;
use rmqtt_codec::version::{ProtocolVersion, VersionCodec};
use rmqtt_codec::{MqttCodec, MqttPacket};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use batcher::{Publish, Settled, Stats};
use packets::{
    incoming, outgoing, In, Out, Version, SUCCESS, TOPIC_NAME_INVALID, UNSPECIFIED_ERROR,
};

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

/// Where an MQTT topic's publishes go: the Kafka topic and its writers' queues.
struct Route {
    kafka_topic: String,
    lanes: batcher::Lanes,
}

/// What every MQTT connection shares: routes, credentials, the connection cap and counters.
pub struct Ingest {
    /// The rules in order, each with its index in `routes`, and the default topic's index.
    rules: Vec<(regex::Regex, usize)>,
    default: Option<usize>,
    routes: Vec<Route>,
    credentials: Option<auth::Credentials>,
    slots: Arc<Semaphore>,
    max_bytes: u32,
    receive_max: NonZeroU16,
    pub stats: Arc<Stats>,
}

/// The MQTT side of the proxy, ready to serve its listeners.
pub struct Server {
    ingest: Arc<Ingest>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Loads the credentials file and the TLS certificate (errors stop start-up) and starts the
    /// topic writers.
    pub fn new(app: &Arc<crate::rest::App>) -> Result<Server, String> {
        let config = &app.config;
        let credentials = config
            .mqtt_credentials_file
            .as_deref()
            .map(auth::Credentials::load)
            .transpose()?;
        let tls = match (&config.mqtt_tls_certificate, &config.mqtt_tls_key) {
            (Some(cert), Some(key)) if config.mqtt_listeners.iter().any(|l| l.tls) => {
                Some(tls::acceptor(cert, key)?)
            }
            _ => None,
        };
        let stats = Arc::new(Stats::default());
        // One route (and set of writers) per Kafka topic the rules and the default name.
        let mut writers = Vec::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut index = |topic: &str| match routes.iter().position(|r| r.kafka_topic == topic) {
            Some(i) => i,
            None => {
                routes.push(Route {
                    kafka_topic: topic.to_string(),
                    lanes: batcher::Lanes::start(topic, app, &stats, &mut writers),
                });
                routes.len() - 1
            }
        };
        let rules = config
            .mqtt_topic_rules
            .iter()
            .map(|r| (r.regex.clone(), index(&r.kafka_topic)))
            .collect();
        let default = config.mqtt_default_topic.as_deref().map(&mut index);
        let ingest = Ingest {
            rules,
            default,
            routes,
            credentials,
            slots: Arc::new(Semaphore::new(config.mqtt_max_connections)),
            max_bytes: config.mqtt_message_max_bytes,
            receive_max: config.mqtt_receive_maximum,
            stats,
        };
        Ok(Server {
            ingest: Arc::new(ingest),
            writers,
            tls,
        })
    }

    /// Accepts connections on `listeners` (`true`: TLS) until `shutdown`; then lets every
    /// connection finish its acknowledgements, writes what is queued, and logs the counters.
    pub async fn serve(self, listeners: Vec<(TcpListener, bool)>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        for (listener, tls) in listeners {
            let tls = if tls { self.tls.clone() } else { None };
            tracker.spawn(accept(
                listener,
                tls,
                self.ingest.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        let stats = self.ingest.stats.clone();
        // The last queue senders go with `ingest`: the writers finish what is queued and stop.
        drop(self.ingest);
        for writer in self.writers {
            let _ = writer.await;
        }
        tracing::info!(stats = ?stats, "MQTT listeners stopped");
    }
}

impl Ingest {
    /// The route of an MQTT topic (an index into `routes`): the first rule matching it whole,
    /// else the default.
    fn route(&self, mqtt_topic: &str) -> Option<usize> {
        self.rules
            .iter()
            .find(|(regex, _)| regex.is_match(mqtt_topic))
            .map(|(_, route)| *route)
            .or(self.default)
    }
}

/// Accepts connections on one listener until `shutdown`.
async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                // Over the cap, the client still hears why (CONNACK), then the connection closes.
                let slot = ingest.slots.clone().try_acquire_owned().ok();
                let ingest = ingest.clone();
                let shutdown = shutdown.clone();
                let tls = tls.clone();
                tracker.spawn(async move {
                    let outcome = match tls {
                        None => connection(stream, slot, ingest, shutdown).await,
                        Some(tls) => {
                            match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await {
                                Ok(Ok(stream)) => connection(stream, slot, ingest, shutdown).await,
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Err(_) => Err("no TLS handshake within 10 s".into()),
                            }
                        }
                    };
                    if let Err(why) = outcome {
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

/// A connection must send CONNECT within this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection ends early: logged, and for MQTT 5 sent as DISCONNECT's reason code.
struct Close {
    reason: v5::DisconnectReasonCode,
    why: String,
}

fn close(reason: v5::DisconnectReasonCode, why: impl Into<String>) -> Close {
    Close {
        reason,
        why: why.into(),
    }
}

/// Why a CONNECT is refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// `mqtt.max.connections` reached.
    Busy,
    NoCredentials,
    BadCredentials,
    /// MQTT 5 enhanced authentication, which this listener does not offer.
    AuthMethod,
    /// 3.1.1: an empty client id without a clean session.
    ClientId,
}

impl Refusal {
    fn v3(self) -> ConnectAckReason {
        match self {
            Refusal::Busy => ConnectAckReason::ServiceUnavailable,
            Refusal::NoCredentials | Refusal::AuthMethod => ConnectAckReason::NotAuthorized,
            Refusal::BadCredentials => ConnectAckReason::BadUserNameOrPassword,
            Refusal::ClientId => ConnectAckReason::IdentifierRejected,
        }
    }

    fn v5(self) -> v5::ConnectAckReason {
        match self {
            Refusal::Busy => v5::ConnectAckReason::ServerBusy,
            Refusal::NoCredentials => v5::ConnectAckReason::NotAuthorized,
            Refusal::BadCredentials => v5::ConnectAckReason::BadUserNameOrPassword,
            Refusal::AuthMethod => v5::ConnectAckReason::BadAuthenticationMethod,
            Refusal::ClientId => v5::ConnectAckReason::ClientIdentifierNotValid,
        }
    }

    fn why(self) -> &'static str {
        match self {
            Refusal::Busy => "mqtt.max.connections reached",
            Refusal::NoCredentials => "CONNECT without username and password",
            Refusal::BadCredentials => "unknown username or wrong password",
            Refusal::AuthMethod => "MQTT 5 enhanced authentication is not offered",
            Refusal::ClientId => "empty client id without a clean session",
        }
    }
}

/// The checks every CONNECT passes: a free connection slot, then the credentials.
fn admit(
    ingest: &Ingest,
    slot: &Option<OwnedSemaphorePermit>,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<(), Refusal> {
    if slot.is_none() {
        Stats::add(&ingest.stats.refused_busy, 1);
        return Err(Refusal::Busy);
    }
    let Some(credentials) = &ingest.credentials else {
        return Ok(());
    };
    match credentials.check(username, password) {
        auth::Verdict::Accepted => Ok(()),
        verdict => {
            Stats::add(&ingest.stats.refused_credentials, 1);
            tracing::warn!(
                user = username.unwrap_or(""),
                "MQTT CONNECT refused: {verdict:?} credentials"
            );
            Err(match verdict {
                auth::Verdict::Missing => Refusal::NoCredentials,
                _ => Refusal::BadCredentials,
            })
        }
    }
}

async fn connection<S>(
    stream: S,
    slot: Option<OwnedSemaphorePermit>,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max_bytes = ingest.max_bytes;
    // 64 KiB reads: a flood of small publishes costs one read call per ~500 of them, not ~70.
    let mut framed = Framed::with_capacity(stream, MqttCodec::Version(VersionCodec), 64 * 1024);
    let version = match tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await {
        Ok(Some(Ok((MqttPacket::Version(ProtocolVersion::MQTT3), _)))) => {
            *framed.codec_mut() = MqttCodec::V3(v3::Codec::new(max_bytes));
            Version::V311
        }
        Ok(Some(Ok((MqttPacket::Version(ProtocolVersion::MQTT5), _)))) => {
            *framed.codec_mut() = MqttCodec::V5(v5::Codec::new(max_bytes, 0));
            Version::V5
        }
        Ok(Some(Err(e))) => {
            // An unknown protocol level gets CONNACK 1 (3.1.1) before the close.
            let mut stream = framed.into_inner();
            let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x01]).await;
            return Err(format!("not an MQTT 3.1.1 or 5 CONNECT: {e}"));
        }
        _ => return Err("no CONNECT".into()),
    };
    let connect = match tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await {
        Ok(Some(Ok((packet, _)))) => packet,
        Ok(Some(Err(e))) => return Err(format!("malformed CONNECT: {e}")),
        _ => return Err("no CONNECT".into()),
    };
    let keep_alive = match connect {
        MqttPacket::V3(Packet::Connect(c)) => {
            // An empty client id is allowed only with a clean session [MQTT-3.1.3-7, -8].
            let admitted = if c.client_id.is_empty() && !c.clean_session {
                Err(Refusal::ClientId)
            } else {
                admit(&ingest, &slot, c.username.as_deref(), c.password.as_deref())
            };
            if let Err(refusal) = admitted {
                let refused = Packet::ConnectAck(ConnectAck {
                    return_code: refusal.v3(),
                    session_present: false,
                });
                let _ = framed.send(MqttPacket::V3(refused)).await;
                return Err(refusal.why().into());
            }
            let accepted = Packet::ConnectAck(ConnectAck {
                return_code: ConnectAckReason::ConnectionAccepted,
                session_present: false,
            });
            send(&mut framed, MqttPacket::V3(accepted)).await?;
            c.keep_alive
        }
        MqttPacket::V5(v5::Packet::Connect(c)) => {
            let admitted = if c.auth_method.is_some() {
                Err(Refusal::AuthMethod)
            } else {
                admit(&ingest, &slot, c.username.as_deref(), c.password.as_deref())
            };
            if let Err(refusal) = admitted {
                let refused = v5::ConnectAck {
                    reason_code: refusal.v5(),
                    reason_string: Some(refusal.why().into()),
                    ..v5::ConnectAck::default()
                };
                let _ = framed
                    .send(MqttPacket::V5(v5::Packet::ConnectAck(Box::new(refused))))
                    .await;
                return Err(refusal.why().into());
            }
            // CONNACK says what this listener does not do: no retain, no subscriptions of any
            // kind, no topic aliases; Receive Maximum bounds the QoS 1/2 publishes in flight.
            let assigned = c
                .client_id
                .is_empty()
                .then(|| format!("kafka-proxy-{}", uuid::Uuid::new_v4()).into());
            let accepted = v5::ConnectAck {
                receive_max: ingest.receive_max,
                max_packet_size: Some(max_bytes),
                assigned_client_id: assigned,
                topic_alias_max: 0,
                retain_available: false,
                wildcard_subscription_available: false,
                subscription_identifiers_available: false,
                shared_subscription_available: false,
                ..v5::ConnectAck::default()
            };
            send(
                &mut framed,
                MqttPacket::V5(v5::Packet::ConnectAck(Box::new(accepted))),
            )
            .await?;
            c.keep_alive
        }
        _ => return Err("the first packet is not CONNECT".into()),
    };
    Stats::add(&ingest.stats.connections, 1);
    let outcome = session(&mut framed, version, keep_alive, &ingest, shutdown).await;
    drop(slot);
    match outcome {
        Ok(()) => Ok(()),
        Err(c) => {
            if version == Version::V5 {
                let disconnect = v5::Disconnect {
                    reason_code: c.reason,
                    session_expiry_interval_secs: None,
                    server_reference: None,
                    reason_string: Some(c.why.clone().into()),
                    user_properties: Vec::new(),
                };
                let _ = framed
                    .send(MqttPacket::V5(v5::Packet::Disconnect(disconnect)))
                    .await;
            }
            Err(c.why)
        }
    }
}

/// An answer owed to the client, in the order of the packets it answers.
enum Slot {
    Ready(Out),
    /// A QoS 1/2 publish waiting for Kafka: its packet id and how to answer it.
    Waiting(NonZeroU16, fn(NonZeroU16, u8) -> Out),
    /// Kafka failed a 3.1.1 publish: the connection closes when this slot's turn comes.
    Failed(String),
}

/// The answers owed, oldest first; `first` is the sequence number of the front one.
struct Answers {
    slots: VecDeque<Slot>,
    first: u64,
}

impl Answers {
    /// Queues an answer; its sequence number.
    fn push(&mut self, slot: Slot) -> u64 {
        self.slots.push_back(slot);
        self.first + self.slots.len() as u64 - 1
    }

    /// Kafka's outcome for the publishes numbered `first..=last`; slots in that range that
    /// are not waiting (answers to other packets) are left alone.
    fn settle(&mut self, settled: Settled, version: Version) {
        let from = settled.first.max(self.first);
        let upto = (settled.last + 1).min(self.first + self.slots.len() as u64);
        for seq in from..upto {
            let slot = &mut self.slots[(seq - self.first) as usize];
            if let Slot::Waiting(id, answer) = *slot {
                *slot = match (&settled.outcome, version) {
                    (Ok(()), _) => Slot::Ready(answer(id, SUCCESS)),
                    // Not acknowledged as delivered: MQTT 5 says so with a reason code; 3.1.1
                    // has none, so the connection closes and the client publishes again.
                    (Err(e), Version::V5) => {
                        tracing::warn!(error = %e, "publish not produced; answered 0x80");
                        Slot::Ready(answer(id, UNSPECIFIED_ERROR))
                    }
                    (Err(e), Version::V311) => {
                        Slot::Failed(format!("Kafka did not take a publish: {e}"))
                    }
                };
            }
        }
    }
}

/// A connection's state after CONNECT, between packets.
struct Conn<'a> {
    ingest: &'a Ingest,
    version: Version,
    receive_max: usize,
    answers: Answers,
    /// QoS 1 and 2 publishes not answered yet (MQTT 5's Receive Maximum counts them).
    in_flight: usize,
    /// QoS 2 packet ids produced and not yet released.
    received: HashSet<NonZeroU16>,
    /// Devices publish to the same few topics: the last topic (an owned copy, shared by its
    /// records) is kept with its route and lane (None: no rule maps it).
    last_route: Option<(Bytes, Option<(usize, usize)>)>,
    /// Set by DISCONNECT or shutdown: answer what is in flight, then close.
    closing: bool,
    /// Where the writers send Kafka's outcomes.
    acks: mpsc::UnboundedSender<batcher::Settled>,
    /// Publishes read and not queued yet, as (route, lane, publishes) in publish order.
    pending: Vec<(usize, usize, Vec<Publish>)>,
    pending_count: usize,
    pending_bytes: usize,
}

impl Conn<'_> {
    /// Handles one packet; publishes go to `pending`, answers to `answers`.
    fn handle(&mut self, packet: MqttPacket, arrived: i64) -> Result<(), Close> {
        use v5::DisconnectReasonCode as Reason;
        let version = self.version;
        match incoming(packet) {
            In::Publish(publish) => {
                if publish.retain && version == Version::V5 {
                    return Err(close(Reason::RetainNotSupported, "RETAIN is not available"));
                }
                if publish
                    .properties
                    .as_ref()
                    .is_some_and(|p| p.topic_alias.is_some())
                {
                    return Err(close(
                        Reason::TopicAliasInvalid,
                        "topic aliases are not available",
                    ));
                }
                let qos = publish.qos;
                let packet_id = publish.packet_id;
                if qos != QoS::AtMostOnce {
                    self.in_flight += 1;
                    if version == Version::V5 && self.in_flight > self.receive_max {
                        return Err(close(
                            Reason::ReceiveMaximumExceeded,
                            "more QoS 1/2 publishes in flight than Receive Maximum",
                        ));
                    }
                }
                let (mqtt_topic, route) = match &self.last_route {
                    Some((t, route)) if t[..] == *publish.topic.as_bytes() => (t.clone(), *route),
                    _ => {
                        let topic: &str = &publish.topic;
                        if topic.is_empty() || topic.contains(['+', '#']) {
                            return Err(close(
                                Reason::TopicNameInvalid,
                                format!("invalid PUBLISH topic {topic:?}"),
                            ));
                        }
                        let route = self
                            .ingest
                            .route(topic)
                            .map(|r| (r, self.ingest.routes[r].lanes.of(topic.as_bytes())));
                        let owned = Bytes::copy_from_slice(topic.as_bytes());
                        self.last_route = Some((owned.clone(), route));
                        (owned, route)
                    }
                };
                let Some((route, lane)) = route else {
                    let topic: &str = &publish.topic;
                    Stats::add(&self.ingest.stats.unmatched, 1);
                    tracing::warn!(mqtt_topic = %topic, "PUBLISH matches no topic.regex.list rule and there is no default topic");
                    match (version, qos, packet_id) {
                        (Version::V311, ..) => {
                            return Err(close(
                                Reason::TopicNameInvalid,
                                format!("no Kafka topic for {topic:?}"),
                            ))
                        }
                        (_, QoS::AtLeastOnce, Some(id)) => {
                            self.answers
                                .push(Slot::Ready(Out::PubAck(id, TOPIC_NAME_INVALID)));
                        }
                        (_, QoS::ExactlyOnce, Some(id)) => {
                            self.answers
                                .push(Slot::Ready(Out::PubRec(id, TOPIC_NAME_INVALID)));
                        }
                        _ => {}
                    }
                    return Ok(());
                };
                let seq = match (qos, packet_id) {
                    (QoS::AtMostOnce, _) => None,
                    (QoS::AtLeastOnce, Some(id)) => {
                        Some(self.answers.push(Slot::Waiting(id, Out::PubAck)))
                    }
                    (QoS::ExactlyOnce, Some(id)) if !self.received.insert(id) => {
                        // A repeat before PUBREL: acknowledged, not produced again.
                        self.answers.push(Slot::Ready(Out::PubRec(id, SUCCESS)));
                        return Ok(());
                    }
                    (QoS::ExactlyOnce, Some(id)) => {
                        Some(self.answers.push(Slot::Waiting(id, Out::PubRec)))
                    }
                    _ => return Err(close(Reason::ProtocolError, "PUBLISH without a packet id")),
                };
                let publish = *publish;
                self.pending_count += 1;
                self.pending_bytes += publish.payload.len();
                let p = Publish {
                    mqtt_topic,
                    payload: publish.payload,
                    qos,
                    arrived,
                    seq,
                };
                match self.pending.last_mut() {
                    Some((r, l, publishes)) if *r == route && *l == lane => publishes.push(p),
                    _ => self.pending.push((route, lane, vec![p])),
                }
            }
            In::PubRel(id) => {
                self.received.remove(&id);
                self.answers.push(Slot::Ready(Out::PubComp(id)));
            }
            In::Ping => {
                self.answers.push(Slot::Ready(Out::PingResp));
            }
            // Publish-only: every filter is refused.
            In::Subscribe(id, n) => {
                self.answers.push(Slot::Ready(Out::SubAck(id, n)));
            }
            In::Unsubscribe(id, n) => {
                self.answers.push(Slot::Ready(Out::UnsubAck(id, n)));
            }
            In::Disconnect => self.closing = true,
            In::Other(what) => return Err(close(Reason::ProtocolError, what)),
        }
        Ok(())
    }

    /// Whether the publishes read make a full chunk.
    fn chunk_full(&self) -> bool {
        self.pending_count >= batcher::CHUNK_MAX_PUBLISHES
            || self.pending_bytes >= batcher::CHUNK_MAX_BYTES
    }

    /// Queues the pending publishes for their writers, in order; waits while a queue is full
    /// (backpressure: the connection stops reading).
    async fn queue(&mut self) -> Result<(), Close> {
        let ingest = self.ingest;
        for (route, lane, publishes) in self.pending.drain(..) {
            let route = &ingest.routes[route];
            let chunk = batcher::Chunk {
                publishes,
                acks: self.acks.clone(),
            };
            route.lanes.queue(lane).send(chunk).await.map_err(|_| {
                close(
                    v5::DisconnectReasonCode::ServerShuttingDown,
                    format!("the writer of {} has stopped", route.kafka_topic),
                )
            })?;
        }
        self.pending_count = 0;
        self.pending_bytes = 0;
        Ok(())
    }
}

/// The packets after CONNECT, until DISCONNECT, the client leaving, or an error.
async fn session<S>(
    framed: &mut Framed<S, MqttCodec>,
    version: Version,
    keep_alive: u16,
    ingest: &Arc<Ingest>,
    shutdown: CancellationToken,
) -> Result<(), Close>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use v5::DisconnectReasonCode as Reason;
    // Keep-alive: closed after 1.5 times the interval without a packet [MQTT-3.1.2-24]. One
    // timer, moved on only when it fires, not re-armed for every packet.
    let idle = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
    let keep_alive_timer = tokio::time::sleep(idle.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(keep_alive_timer);
    let mut last_packet = tokio::time::Instant::now();
    // Arrival times in ms since the epoch, from the monotonic clock read for each read anyway.
    let epoch_ms = batcher::now_ms();
    let epoch = last_packet;
    let (acks, mut results) = mpsc::unbounded_channel::<batcher::Settled>();
    let mut conn = Conn {
        ingest,
        version,
        receive_max: usize::from(ingest.receive_max.get()),
        answers: Answers {
            slots: VecDeque::new(),
            first: 0,
        },
        in_flight: 0,
        received: HashSet::new(),
        last_route: None,
        closing: false,
        acks,
        pending: Vec::new(),
        pending_count: 0,
        pending_bytes: 0,
    };
    let mut shutting_down = false;
    loop {
        // Every answer whose turn has come goes out, in one write.
        let mut wrote = false;
        let answers = &mut conn.answers;
        while let Some(front) = answers.slots.front() {
            match front {
                Slot::Waiting(..) => break,
                Slot::Failed(why) => return Err(close(Reason::UnspecifiedError, why.clone())),
                Slot::Ready(_) => {
                    let Some(Slot::Ready(out)) = answers.slots.pop_front() else {
                        unreachable!("front is ready")
                    };
                    answers.first += 1;
                    if matches!(out, Out::PubAck(..) | Out::PubRec(..)) {
                        conn.in_flight -= 1;
                    }
                    framed
                        .feed(outgoing(version, out))
                        .await
                        .map_err(|e| close(Reason::UnspecifiedError, format!("writing: {e}")))?;
                    wrote = true;
                }
            }
        }
        if wrote {
            framed
                .flush()
                .await
                .map_err(|e| close(Reason::UnspecifiedError, format!("writing: {e}")))?;
        }
        if conn.closing && conn.answers.slots.is_empty() {
            return if shutting_down {
                Err(close(
                    Reason::ServerShuttingDown,
                    "the proxy is shutting down",
                ))
            } else {
                Ok(())
            };
        }
        tokio::select! {
            _ = shutdown.cancelled(), if !conn.closing => {
                conn.closing = true;
                shutting_down = true;
            }
            Some(settled) = results.recv() => {
                conn.answers.settle(settled, version);
                while let Ok(settled) = results.try_recv() {
                    conn.answers.settle(settled, version);
                }
            }
            () = &mut keep_alive_timer, if idle.is_some() && !conn.closing => {
                let idle = idle.expect("checked");
                if last_packet.elapsed() >= idle {
                    return Err(close(Reason::KeepAliveTimeout, "keep-alive expired"));
                }
                keep_alive_timer.as_mut().reset(last_packet + idle);
            }
            packet = framed.next(), if !conn.closing => {
                // Every packet already read is handled before the publishes are queued: one
                // chunk per read, not one queue hand-off per publish.
                last_packet = tokio::time::Instant::now();
                let arrived = epoch_ms + last_packet.duration_since(epoch).as_millis() as i64;
                let mut packet = packet;
                let mut burst = 0;
                let outcome = loop {
                    let p = match packet {
                        None => break Err(None),
                        Some(Err(rmqtt_codec::error::DecodeError::MaxSizeExceeded)) => {
                            break Err(Some(close(Reason::PacketTooLarge, "packet larger than mqtt.message.max.bytes")))
                        }
                        Some(Err(e)) => break Err(Some(close(Reason::MalformedPacket, format!("malformed packet: {e}")))),
                        Some(Ok((p, _))) => p,
                    };
                    if let Err(c) = conn.handle(p, arrived) {
                        break Err(Some(c));
                    }
                    burst += 1;
                    if conn.closing || conn.chunk_full() || burst >= batcher::CHUNK_MAX_PUBLISHES {
                        break Ok(());
                    }
                    match framed.next().now_or_never() {
                        Some(next) => packet = next,
                        None => break Ok(()),
                    }
                };
                // What was read before an error or the end of the stream is still produced,
                // as it would have been had the packets come one per read.
                conn.queue().await?;
                match outcome {
                    Ok(()) => {}
                    Err(None) => return Ok(()),
                    Err(Some(c)) => return Err(c),
                }
            }
        }
    }
}

async fn send<S>(framed: &mut Framed<S, MqttCodec>, packet: MqttPacket) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    framed
        .send(packet)
        .await
        .map_err(|e| format!("writing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    /// Slots 10..=14: three publishes waiting, a PINGRESP among them, and one more publish.
    fn answers() -> Answers {
        Answers {
            slots: VecDeque::from([
                Slot::Waiting(id(1), Out::PubAck),
                Slot::Ready(Out::PingResp),
                Slot::Waiting(id(2), Out::PubRec),
                Slot::Waiting(id(3), Out::PubAck),
                Slot::Waiting(id(4), Out::PubAck),
            ]),
            first: 10,
        }
    }

    fn reasons(a: &Answers) -> Vec<Option<u8>> {
        a.slots
            .iter()
            .map(|s| match s {
                Slot::Ready(Out::PubAck(_, r) | Out::PubRec(_, r)) => Some(*r),
                Slot::Ready(_) => Some(0xFF),
                Slot::Waiting(..) => None,
                Slot::Failed(_) => Some(0xEE),
            })
            .collect()
    }

    #[test]
    fn a_settled_range_answers_only_its_waiting_publishes() {
        let mut a = answers();
        let ok = |first, last| Settled {
            first,
            last,
            outcome: Ok(()),
        };
        a.settle(ok(10, 12), Version::V5);
        assert_eq!(reasons(&a), [Some(0), Some(0xFF), Some(0), None, None]);
        // A failure: 0x80 in MQTT 5; in 3.1.1 the connection closes at that slot's turn.
        let failed = |seq| Settled {
            first: seq,
            last: seq,
            outcome: Err("down".into()),
        };
        a.settle(failed(13), Version::V5);
        assert_eq!(reasons(&a)[3], Some(UNSPECIFIED_ERROR));
        let mut b = answers();
        b.settle(failed(13), Version::V311);
        assert_eq!(reasons(&b)[3], Some(0xEE));
        // Settled answers are not settled again, and a range past the end is cut short.
        a.settle(ok(13, 20), Version::V5);
        assert_eq!(
            reasons(&a),
            [
                Some(0),
                Some(0xFF),
                Some(0),
                Some(UNSPECIFIED_ERROR),
                Some(0)
            ]
        );
    }

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
