//! A connection's packets after CONNECT: publishes are routed and queued for their Kafka
//! topic's writer, one chunk per socket read; answers (PUBACK, PUBREC, PUBCOMP, PINGRESP,
//! SUBACK, ...) go out in the order of the packets they answer, a publish's only once Kafka has
//! its record; keep-alive, Receive Maximum and shutdown are enforced here.

use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use bytestring::ByteString;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rmqtt_codec::types::QoS;
use rmqtt_codec::v5;
use rmqtt_codec::{MqttCodec, MqttPacket};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::answers::{Answers, Received, Slot};
use super::batcher::{self, Stats};
use super::chunk::Publish;
use super::ingest::Ingest;
use super::packets::{
    incoming, outgoing, put_answer, take_publish, take_pubrel, In, Out, Version, SUCCESS,
    TOPIC_NAME_INVALID,
};
use super::routes::Pending;

/// Why a connection ends early: logged, and for MQTT 5 sent as DISCONNECT's reason code.
pub(super) struct Close {
    pub(super) reason: v5::DisconnectReasonCode,
    pub(super) why: String,
}

fn close(reason: v5::DisconnectReasonCode, why: impl Into<String>) -> Close {
    Close {
        reason,
        why: why.into(),
    }
}

/// What [`Conn::publish`] needs of a PUBLISH, from the codec's packet or read directly from the
/// buffer ([`take_publish`]), whose payload it borrows.
struct Incoming<'a> {
    /// None: the connection's last topic (a direct read matched it).
    topic: Option<&'a ByteString>,
    qos: QoS,
    dup: bool,
    retain: bool,
    topic_alias: bool,
    packet_id: Option<NonZeroU16>,
    payload: &'a [u8],
    /// Headers from MQTT 5 properties.
    extra: Vec<crate::record::Header>,
}

/// A connection's state after CONNECT, between packets.
struct Conn<'a> {
    ingest: &'a Ingest,
    version: Version,
    receive_max: usize,
    answers: Answers,
    /// QoS 1 and 2 publishes not answered yet (MQTT 5's Receive Maximum counts them).
    in_flight: usize,
    received: Received,
    /// Devices publish to the same few topics: the last topic (an owned copy) is kept with its
    /// route and lane (None: no rule maps it). Publishes to it are read without the codec
    /// ([`take_publish`]).
    last_route: Option<(ByteString, Option<(usize, usize)>)>,
    /// Set by DISCONNECT or shutdown: answer what is in flight, then close.
    closing: bool,
    /// Where the writers send Kafka's outcomes.
    acks: mpsc::UnboundedSender<batcher::Settled>,
    /// Publishes read and not queued yet.
    pending: Pending,
    /// The publishes counter of each QoS, looked up once per connection: a lookup per publish
    /// (hashing its name and label) was 8% of the proxy's CPU at QoS 2. They are shared by
    /// every connection, so they are added to once per read ([`Conn::queue`]), from `counted`.
    publishes: [metrics::Counter; 3],
    counted: [u64; 3],
}

impl Conn<'_> {
    /// Handles one packet; publishes go to `pending`, answers to `answers`.
    fn handle(&mut self, packet: MqttPacket, arrived: i64) -> Result<(), Close> {
        use v5::DisconnectReasonCode as Reason;
        match incoming(packet) {
            In::Publish(publish) => {
                let extra = super::packets::property_headers(&publish);
                let p = Incoming {
                    topic: Some(&publish.topic),
                    qos: publish.qos,
                    dup: publish.dup,
                    retain: publish.retain,
                    topic_alias: publish
                        .properties
                        .as_ref()
                        .is_some_and(|p| p.topic_alias.is_some()),
                    packet_id: publish.packet_id,
                    payload: &publish.payload,
                    extra,
                };
                return self.publish(p, arrived);
            }
            In::PubRel(id) => self.release(id),
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

    /// A PUBLISH: checked, routed and staged in `pending` (its payload copied there); its
    /// answer's slot is taken now.
    fn publish(&mut self, publish: Incoming<'_>, arrived: i64) -> Result<(), Close> {
        use v5::DisconnectReasonCode as Reason;
        let version = self.version;
        self.counted[qos_index(publish.qos)] += 1;
        // Retained messages are not kept (CONNACK says so in MQTT 5; 3.1.1 has no way
        // to say it, so the publish is refused rather than written as an ordinary one).
        if publish.retain {
            return Err(close(Reason::RetainNotSupported, "RETAIN is not available"));
        }
        // [MQTT-3.3.1-2]: a QoS 0 publish has DUP 0; anything else is malformed.
        if publish.dup && publish.qos == QoS::AtMostOnce {
            return Err(close(Reason::MalformedPacket, "DUP set on a QoS 0 PUBLISH"));
        }
        if publish.topic_alias {
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
        let route = match (publish.topic, &self.last_route) {
            (Some(topic), Some((last, route))) if last == topic => *route,
            (None, Some((_, route))) => *route,
            (Some(topic), _) => {
                // [MQTT-4.7.3-1, -2]: no wildcards, no U+0000 in a topic name.
                if topic.is_empty() || topic.contains(['+', '#', '\0']) {
                    return Err(close(
                        Reason::TopicNameInvalid,
                        format!("invalid PUBLISH topic {:?}", &topic[..]),
                    ));
                }
                let route = self
                    .ingest
                    .routes
                    .route(topic)
                    .map(|r| (r, self.ingest.routes[r].lanes.of(topic.as_bytes())));
                self.last_route = Some((ByteString::from(&topic[..]), route));
                route
            }
            (None, None) => {
                return Err(close(
                    Reason::ProtocolError,
                    "a PUBLISH read as to the last topic with no last topic",
                ))
            }
        };
        let Some((route, lane)) = route else {
            let topic: &str = self.last_route.as_ref().map_or("", |(t, _)| t);
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
            (QoS::AtLeastOnce, Some(id)) => Some(self.answers.push(Slot::Waiting(id, Out::PubAck))),
            (QoS::ExactlyOnce, Some(id)) => match self.received.get(&id) {
                // A repeat before PUBREL: not produced again; acknowledged once Kafka
                // has the first one's record.
                Some(true) => {
                    self.answers.push(Slot::Ready(Out::PubRec(id, SUCCESS)));
                    return Ok(());
                }
                Some(false) => {
                    self.answers.push(Slot::Repeat(id));
                    self.answers.repeats += 1;
                    return Ok(());
                }
                None => {
                    self.received.insert(id, false);
                    Some(self.answers.push(Slot::Waiting(id, Out::PubRec)))
                }
            },
            _ => return Err(close(Reason::ProtocolError, "PUBLISH without a packet id")),
        };
        let Some((topic, _)) = &self.last_route else {
            unreachable!("routed above")
        };
        self.pending.push(
            route,
            lane,
            Publish {
                mqtt_topic: topic.as_bytes(),
                payload: publish.payload,
                qos,
                arrived,
                seq,
                extra: publish.extra,
            },
        );
        Ok(())
    }

    /// The packets after one the codec has returned, from the front of the read buffer: the
    /// common PUBRELs and PUBLISHes, read without the codec. Stops at anything else, or when the
    /// connection closes, a queue is full or the read's chunk is complete; `burst` counts the
    /// packets of the read.
    fn take_direct(
        &mut self,
        buf: &mut bytes::BytesMut,
        arrived: i64,
        burst: &mut usize,
    ) -> Result<(), Close> {
        while !self.closing && !self.pending.full() && *burst < batcher::CHUNK_MAX_PUBLISHES {
            if let Some(id) = take_pubrel(buf) {
                self.release(id);
            } else if let Some(direct) = self.last_route.as_ref().and_then(|(topic, _)| {
                take_publish(buf, self.version, self.ingest.max_bytes, topic)
            }) {
                let p = Incoming {
                    topic: None,
                    qos: direct.qos,
                    dup: direct.dup,
                    retain: false,
                    topic_alias: false,
                    packet_id: direct.packet_id,
                    payload: &buf[direct.payload],
                    extra: Vec::new(),
                };
                let staged = self.publish(p, arrived);
                buf.advance(direct.len);
                staged?;
            } else {
                break;
            }
            *burst += 1;
        }
        Ok(())
    }

    /// Kafka's outcome for a run of publishes; their chunk's records, once spent, are filled
    /// again.
    fn settle(&mut self, mut settled: batcher::Settled) {
        self.pending.recycle(settled.spent.take());
        self.answers
            .settle(settled, self.version, &mut self.received);
    }

    /// A PUBREL: the packet id may be used again; PUBCOMP answers it.
    fn release(&mut self, id: NonZeroU16) {
        self.received.remove(&id);
        self.answers.push(Slot::Ready(Out::PubComp(id)));
    }

    /// Queues the pending publishes for their writers, in order; waits while a queue is full
    /// (backpressure: the connection stops reading).
    async fn queue(&mut self) -> Result<(), Close> {
        for (counter, n) in self.publishes.iter().zip(&mut self.counted) {
            if *n > 0 {
                counter.increment(std::mem::take(n));
            }
        }
        self.pending
            .queue(&self.ingest.routes, &self.acks)
            .await
            .map_err(|topic| {
                close(
                    v5::DisconnectReasonCode::ServerShuttingDown,
                    format!("the writer of {topic} has stopped"),
                )
            })
    }
}

/// The packets after CONNECT, until DISCONNECT, the client leaving, or an error.
pub(super) async fn session<S>(
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
            repeats: 0,
        },
        in_flight: 0,
        received: Received::default(),
        last_route: None,
        closing: false,
        acks,
        pending: Pending::default(),
        publishes: [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].map(
            |qos| metrics::counter!(crate::telemetry::MQTT_PUBLISHES, "qos" => qos_label(qos)),
        ),
        counted: [0; 3],
    };
    let mut shutting_down = false;
    loop {
        // Every answer whose turn has come goes out, in one write.
        let mut wrote = false;
        let answers = &mut conn.answers;
        while let Some(front) = answers.slots.front() {
            match front {
                Slot::Waiting(..) | Slot::Repeat(_) => break,
                Slot::Failed(why) => return Err(close(Reason::UnspecifiedError, why.clone())),
                Slot::Ready(_) => {
                    let Some(Slot::Ready(out)) = answers.slots.pop_front() else {
                        unreachable!("front is ready")
                    };
                    answers.first += 1;
                    if matches!(out, Out::PubAck(..) | Out::PubRec(..)) {
                        conn.in_flight -= 1;
                    }
                    // Publish answers go straight into the write buffer, others through the
                    // codec; both append to the same buffer, so the order holds.
                    if let Some(out) = put_answer(version, out, framed.write_buffer_mut()) {
                        framed.feed(outgoing(version, out)).await.map_err(|e| {
                            close(Reason::UnspecifiedError, format!("writing: {e}"))
                        })?;
                    }
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
        // Biased: packets already read are handled before the keep-alive timer is looked at, so
        // a connection that waited on a full writer queue (backpressure) is not closed for the
        // PINGREQs waiting unread in its socket.
        tokio::select! {
            biased;
            _ = shutdown.cancelled(), if !conn.closing => {
                conn.closing = true;
                shutting_down = true;
            }
            Some(settled) = results.recv() => {
                conn.settle(settled);
                while let Ok(settled) = results.try_recv() {
                    conn.settle(settled);
                }
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
                    // The codec has just returned a packet, so the buffer starts at one.
                    if let Err(c) = conn.take_direct(framed.read_buffer_mut(), arrived, &mut burst) {
                        break Err(Some(c));
                    }
                    if conn.closing || conn.pending.full() || burst >= batcher::CHUNK_MAX_PUBLISHES {
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
            () = &mut keep_alive_timer, if idle.is_some() && !conn.closing => {
                let idle = idle.expect("checked");
                if last_packet.elapsed() >= idle {
                    return Err(close(Reason::KeepAliveTimeout, "keep-alive expired"));
                }
                keep_alive_timer.as_mut().reset(last_packet + idle);
            }
        }
    }
}

/// A QoS as an index of [`Conn::publishes`].
fn qos_index(qos: QoS) -> usize {
    match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// A QoS as a metric label.
fn qos_label(qos: QoS) -> &'static str {
    match qos {
        QoS::AtMostOnce => "0",
        QoS::AtLeastOnce => "1",
        QoS::ExactlyOnce => "2",
    }
}
