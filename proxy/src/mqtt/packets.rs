//! The packets a connection handles, independent of the protocol version: what comes in
//! ([`In`], from either codec's packet) and what goes out ([`Out`], encoded for the version).

use std::num::NonZeroU16;

use rmqtt_codec::types::Publish;
use rmqtt_codec::v3::{Packet, SubscribeReturnCode};
use rmqtt_codec::v5;
use rmqtt_codec::MqttPacket;

/// The protocol a connection speaks, from its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V311,
    V5,
}

/// An incoming packet, whatever the version.
pub(super) enum In {
    Publish(Box<Publish>),
    PubRel(NonZeroU16),
    Ping,
    Subscribe(NonZeroU16, usize),
    Unsubscribe(NonZeroU16, usize),
    Disconnect,
    Other(&'static str),
}

pub(super) fn incoming(packet: MqttPacket) -> In {
    match packet {
        MqttPacket::V3(p) => match p {
            Packet::Publish(p) => In::Publish(p),
            Packet::PublishRelease { packet_id } => In::PubRel(packet_id),
            Packet::PingRequest => In::Ping,
            Packet::Subscribe {
                packet_id,
                topic_filters,
            } => In::Subscribe(packet_id, topic_filters.len()),
            Packet::Unsubscribe {
                packet_id,
                topic_filters,
            } => In::Unsubscribe(packet_id, topic_filters.len()),
            Packet::Disconnect => In::Disconnect,
            Packet::Connect(_) => In::Other("a second CONNECT"),
            _ => In::Other("a packet a client does not send"),
        },
        MqttPacket::V5(p) => match p {
            v5::Packet::Publish(p) => In::Publish(p),
            v5::Packet::PublishRelease(ack) => In::PubRel(ack.packet_id),
            v5::Packet::PingRequest => In::Ping,
            v5::Packet::Subscribe(s) => In::Subscribe(s.packet_id, s.topic_filters.len()),
            v5::Packet::Unsubscribe(u) => In::Unsubscribe(u.packet_id, u.topic_filters.len()),
            v5::Packet::Disconnect(_) => In::Disconnect,
            v5::Packet::Connect(_) => In::Other("a second CONNECT"),
            _ => In::Other("a packet a client does not send"),
        },
        MqttPacket::Version(_) => In::Other("a second CONNECT"),
    }
}

/// An answer, queued in the order of the packets it answers. `reason` is MQTT 5's reason code
/// (3.1.1 has none: a publish is acknowledged only on success there).
pub(super) enum Out {
    PubAck(NonZeroU16, u8),
    PubRec(NonZeroU16, u8),
    PubComp(NonZeroU16),
    PingResp,
    SubAck(NonZeroU16, usize),
    UnsubAck(NonZeroU16, usize),
}

/// MQTT 5 reason codes used here.
pub(super) const SUCCESS: u8 = 0x00;
pub(super) const UNSPECIFIED_ERROR: u8 = 0x80;
pub(super) const TOPIC_NAME_INVALID: u8 = 0x90;

pub(super) fn outgoing(version: Version, out: Out) -> MqttPacket {
    use v5::{PublishAck, PublishAck2, PublishAck2Reason, PublishAckReason};
    let ack = |packet_id, reason: u8| PublishAck {
        packet_id,
        reason_code: PublishAckReason::try_from(reason)
            .unwrap_or(PublishAckReason::UnspecifiedError),
        properties: Vec::new(),
        reason_string: None,
    };
    match version {
        Version::V311 => MqttPacket::V3(match out {
            Out::PubAck(packet_id, _) => Packet::PublishAck { packet_id },
            Out::PubRec(packet_id, _) => Packet::PublishReceived { packet_id },
            Out::PubComp(packet_id) => Packet::PublishComplete { packet_id },
            Out::PingResp => Packet::PingResponse,
            Out::SubAck(packet_id, n) => Packet::SubscribeAck {
                packet_id,
                status: vec![SubscribeReturnCode::Failure; n],
            },
            Out::UnsubAck(packet_id, _) => Packet::UnsubscribeAck { packet_id },
        }),
        Version::V5 => MqttPacket::V5(match out {
            Out::PubAck(packet_id, reason) => v5::Packet::PublishAck(ack(packet_id, reason)),
            Out::PubRec(packet_id, reason) => v5::Packet::PublishReceived(ack(packet_id, reason)),
            Out::PubComp(packet_id) => v5::Packet::PublishComplete(PublishAck2 {
                packet_id,
                reason_code: PublishAck2Reason::Success,
                properties: Vec::new(),
                reason_string: None,
            }),
            Out::PingResp => v5::Packet::PingResponse,
            Out::SubAck(packet_id, n) => v5::Packet::SubscribeAck(v5::SubscribeAck {
                packet_id,
                properties: Vec::new(),
                reason_string: Some("this listener is publish-only".into()),
                status: vec![v5::SubscribeAckReason::ImplementationSpecificError; n],
            }),
            Out::UnsubAck(packet_id, n) => v5::Packet::UnsubscribeAck(v5::UnsubscribeAck {
                packet_id,
                properties: Vec::new(),
                reason_string: None,
                status: vec![v5::UnsubscribeAckReason::NoSubscriptionExisted; n],
            }),
        }),
    }
}

/// Appends a publish answer (PUBACK, PUBREC, PUBCOMP) straight to the connection's write
/// buffer, byte for byte as the codec would encode it: the fixed header, the packet id and, in
/// MQTT 5, the reason code and an empty property list. Returns the answer back when it is
/// another packet (those go through the codec). Building each answer as a codec packet (MQTT
/// 5's carries a property `Vec` and a reason string) and feeding it through the sink was 11% of
/// the proxy's CPU at QoS 2, which answers every publish twice.
pub(super) fn put_answer(version: Version, out: Out, buf: &mut bytes::BytesMut) -> Option<Out> {
    use bytes::BufMut;
    let (kind, id, reason) = match out {
        Out::PubAck(id, reason) => (0x40, id, reason),
        Out::PubRec(id, reason) => (0x50, id, reason),
        Out::PubComp(id) => (0x70, id, SUCCESS),
        other => return Some(other),
    };
    match version {
        Version::V311 => {
            buf.put_slice(&[kind, 2]);
            buf.put_u16(id.get());
        }
        Version::V5 => {
            buf.put_slice(&[kind, 4]);
            buf.put_u16(id.get());
            buf.put_slice(&[reason, 0]);
        }
    }
    None
}

/// Takes a PUBREL from the front of the connection's read buffer when one is there whole in its
/// 4-byte form (MQTT 3.1.1's only form; MQTT 5's when the reason is success and there are no
/// properties): its packet id. Anything else (another packet, a longer or incomplete PUBREL,
/// packet id 0, wrong flags) is left for the codec, which decodes or refuses it. Call it only
/// where the codec has just returned a packet, so the buffer starts at a packet boundary. QoS 2
/// sends one PUBREL per publish; through the codec each one cost a buffer split, a shared
/// `Bytes` and a packet value, about 5% of the proxy's CPU.
pub(super) fn take_pubrel(buf: &mut bytes::BytesMut) -> Option<NonZeroU16> {
    use bytes::Buf;
    match buf.get(..4)? {
        [0x62, 2, hi, lo] => {
            let id = NonZeroU16::new(u16::from_be_bytes([*hi, *lo]))?;
            buf.advance(4);
            Some(id)
        }
        _ => None,
    }
}

/// A PUBLISH read from the front of the read buffer without the codec ([`take_publish`]): to the
/// connection's last topic, without RETAIN or properties.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Direct {
    pub(super) qos: rmqtt_codec::types::QoS,
    pub(super) dup: bool,
    pub(super) packet_id: Option<NonZeroU16>,
    /// Where its payload is in the buffer.
    pub(super) payload: std::ops::Range<usize>,
    /// The whole packet's length: the caller advances the buffer by it once the payload is
    /// copied.
    pub(super) len: usize,
}

/// Reads a PUBLISH at the front of the connection's read buffer when it is whole and in the
/// form devices send over and over: to `topic` (the connection's last topic, already checked),
/// without RETAIN, with a nonzero packet id at QoS 1 and 2, without MQTT 5 properties, and no
/// larger than `max_bytes` (0: no limit, as for the codec). The buffer is left as it is: the
/// caller copies the payload out and advances past the packet, so a direct read never shares
/// the buffer (the codec's packets share it only until their payload is copied, within the same
/// read) and it is reused in place. Anything else is left for the codec, which decodes or refuses it;
/// call it only where the codec has just returned a packet, as [`take_pubrel`]. Through the
/// codec each publish cost a boxed packet, the topic's UTF-8 check, in MQTT 5 a property list,
/// and a split of the buffer: 10–14% of the proxy's CPU at QoS 2.
pub(super) fn take_publish(
    buf: &[u8],
    version: Version,
    max_bytes: u32,
    topic: &bytestring::ByteString,
) -> Option<Direct> {
    use rmqtt_codec::types::QoS;
    let (qos, dup) = match *buf.first()? {
        0x30 => (QoS::AtMostOnce, false),
        0x32 => (QoS::AtLeastOnce, false),
        0x3a => (QoS::AtLeastOnce, true),
        0x34 => (QoS::ExactlyOnce, false),
        0x3c => (QoS::ExactlyOnce, true),
        _ => return None,
    };
    // The remaining length: a variable byte integer of at most four bytes.
    let mut len = 0usize;
    let mut header = 1;
    loop {
        let byte = *buf.get(header)?;
        len |= usize::from(byte & 0x7f) << (7 * (header - 1));
        header += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if header == 5 {
            return None;
        }
    }
    if max_bytes != 0 && len > max_bytes as usize {
        return None;
    }
    let packet = buf.get(header..header + len)?;
    let name = topic.as_bytes();
    let rest = packet
        .strip_prefix(&u16::try_from(name.len()).ok()?.to_be_bytes())?
        .strip_prefix(&name[..])?;
    let (packet_id, rest) = match qos {
        QoS::AtMostOnce => (None, rest),
        _ => {
            let (id, rest) = rest.split_first_chunk::<2>()?;
            (Some(NonZeroU16::new(u16::from_be_bytes(*id))?), rest)
        }
    };
    let payload_len = match version {
        Version::V311 => rest.len(),
        Version::V5 => rest.strip_prefix(&[0])?.len(),
    };
    let end = header + len;
    Some(Direct {
        qos,
        dup,
        packet_id,
        payload: end - payload_len..end,
        len: end,
    })
}

/// The Kafka headers an MQTT 5 PUBLISH's properties give, after `mqtt.topic` and `mqtt.qos`:
/// every user property (name and value as sent, in order, repeats kept), then
/// `mqtt.content.type` and `mqtt.correlation.data` when present. None for MQTT 3.1.1.
pub fn property_headers(publish: &Publish) -> Vec<crate::record::Header> {
    // Devices mostly send none: no collecting then (1.9% of the proxy's CPU at QoS 2).
    let Some(p) = publish.properties.as_ref().filter(|p| {
        !p.user_properties.is_empty() || p.content_type.is_some() || p.correlation_data.is_some()
    }) else {
        return Vec::new();
    };
    let mut out: Vec<crate::record::Header> = p
        .user_properties
        .iter()
        .map(|(name, value)| {
            (
                std::borrow::Cow::Owned(name.to_string()),
                Some(value.as_bytes().clone()),
            )
        })
        .collect();
    if let Some(ct) = &p.content_type {
        out.push(("mqtt.content.type".into(), Some(ct.as_bytes().clone())));
    }
    if let Some(data) = &p.correlation_data {
        out.push(("mqtt.correlation.data".into(), Some(data.clone())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rmqtt_codec::{v3, MqttCodec};
    use tokio_util::codec::Encoder;

    /// What [`put_answer`] writes is what the codec writes for the same answer.
    #[test]
    fn answers_are_written_as_the_codec_writes_them() {
        let id = |n| NonZeroU16::new(n).unwrap();
        for version in [Version::V311, Version::V5] {
            let answers = || {
                [
                    Out::PubAck(id(1), SUCCESS),
                    Out::PubAck(id(0x1234), UNSPECIFIED_ERROR),
                    Out::PubRec(id(65535), SUCCESS),
                    Out::PubRec(id(7), TOPIC_NAME_INVALID),
                    Out::PubComp(id(300)),
                ]
            };
            for (direct, coded) in answers().into_iter().zip(answers()) {
                let mut ours = BytesMut::new();
                assert!(put_answer(version, direct, &mut ours).is_none());
                let mut codec = match version {
                    Version::V311 => MqttCodec::V3(v3::Codec::new(1 << 20)),
                    Version::V5 => MqttCodec::V5(v5::Codec::new(1 << 20, 0)),
                };
                let mut theirs = BytesMut::new();
                codec.encode(outgoing(version, coded), &mut theirs).unwrap();
                assert_eq!(ours, theirs, "{version:?}");
            }
        }
        let mut buf = BytesMut::new();
        assert!(put_answer(Version::V5, Out::PingResp, &mut buf).is_some());
        assert!(buf.is_empty());
    }

    /// The 4-byte PUBREL is taken as the codec would decode it; everything else is left alone.
    #[test]
    fn takes_only_whole_short_pubrels() {
        let mut buf = BytesMut::from(&[0x62, 2, 1, 2, 0x62, 2, 0, 9, 0x30][..]);
        assert_eq!(take_pubrel(&mut buf), NonZeroU16::new(0x0102));
        assert_eq!(take_pubrel(&mut buf), NonZeroU16::new(9));
        assert_eq!(take_pubrel(&mut buf), None, "a PUBLISH is left");
        assert_eq!(&buf[..], [0x30]);
        for left in [
            &[0x62, 2, 0, 0][..],   // packet id 0: the codec refuses it
            &[0x62, 2, 0],          // incomplete
            &[0x62, 3, 0, 1, 0x92], // MQTT 5 with a reason code
            &[0x60, 2, 0, 1],       // reserved flags wrong
            &[0x70, 2, 0, 1],       // PUBCOMP
        ] {
            let mut buf = BytesMut::from(left);
            assert_eq!(take_pubrel(&mut buf), None, "{left:?}");
            assert_eq!(&buf[..], left);
        }
        // What it takes is what the codec decodes, in both versions.
        for mut codec in [
            MqttCodec::V3(v3::Codec::new(1 << 20)),
            MqttCodec::V5(v5::Codec::new(1 << 20, 0)),
        ] {
            use tokio_util::codec::Decoder;
            let mut buf = BytesMut::from(&[0x62, 2, 0x12, 0x34][..]);
            let (packet, _) = codec.decode(&mut buf).unwrap().unwrap();
            assert!(matches!(incoming(packet), In::PubRel(id) if id.get() == 0x1234));
        }
    }

    /// The common PUBLISH is taken as the codec decodes it, in both versions, at every QoS and
    /// with the remaining length in one to three bytes; everything else is left alone.
    #[test]
    fn takes_only_common_publishes_as_the_codec_decodes_them() {
        use rmqtt_codec::types::QoS;
        use tokio_util::codec::Decoder;
        let topic = bytestring::ByteString::from("devices/7/temp");
        let codec = |version| match version {
            Version::V311 => MqttCodec::V3(v3::Codec::new(1 << 20)),
            Version::V5 => MqttCodec::V5(v5::Codec::new(1 << 20, 0)),
        };
        // A PUBLISH's bytes, by hand: flags, topic, packet id, MQTT 5 properties, payload.
        let packet = |version, first: u8, name: &[u8], id: u16, props: &[u8], payload: usize| {
            let mut body = Vec::new();
            body.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
            body.extend_from_slice(name);
            if first & 0b0110 != 0 {
                body.extend_from_slice(&id.to_be_bytes());
            }
            if version == Version::V5 {
                body.extend_from_slice(props);
            }
            body.extend((0..payload).map(|i| i as u8));
            let mut out = vec![first];
            let mut n = body.len();
            loop {
                let byte = (n % 128) as u8;
                n /= 128;
                out.push(if n > 0 { byte | 0x80 } else { byte });
                if n == 0 {
                    break;
                }
            }
            out.extend(body);
            out
        };
        for version in [Version::V311, Version::V5] {
            for first in [0x30, 0x32, 0x34, 0x3a, 0x3c] {
                for payload in [0, 1, 100, 200, 20_000] {
                    let bytes = packet(version, first, b"devices/7/temp", 513, &[0], payload);
                    let mut buf = BytesMut::from(&bytes[..]);
                    buf.extend_from_slice(&[0x62, 2, 0, 1]);
                    let direct = take_publish(&buf, version, 1 << 20, &topic).unwrap();
                    // As the codec's packet: the same fields, the payload copied out.
                    let ours = Publish {
                        dup: direct.dup,
                        retain: false,
                        qos: direct.qos,
                        topic: topic.clone(),
                        packet_id: direct.packet_id,
                        payload: bytes::Bytes::copy_from_slice(&buf[direct.payload.clone()]),
                        properties: match version {
                            Version::V311 => None,
                            Version::V5 => Some(Default::default()),
                        },
                    };
                    assert_eq!(direct.len, bytes.len(), "the packet's whole length");
                    let mut buf = BytesMut::from(&bytes[..]);
                    let (theirs, _) = codec(version).decode(&mut buf).unwrap().unwrap();
                    assert!(buf.is_empty(), "the codec took it whole");
                    let In::Publish(theirs) = incoming(theirs) else {
                        panic!("not a publish")
                    };
                    assert!(ours == *theirs, "{version:?} {first:#x} {payload}");
                    assert_eq!(ours.qos == QoS::AtMostOnce, first == 0x30);
                }
            }
            let left = [
                packet(version, 0x31, b"devices/7/temp", 1, &[0], 5), // RETAIN
                packet(version, 0x38, b"devices/7/temp", 1, &[0], 5), // DUP at QoS 0
                packet(version, 0x36, b"devices/7/temp", 1, &[0], 5), // QoS 3
                packet(version, 0x32, b"devices/7/temp", 0, &[0], 5), // packet id 0
                packet(version, 0x32, b"devices/7/hum", 1, &[0], 5),  // another topic
                packet(version, 0x32, b"devices/7/temp", 1, &[0], 2_000), // over max_bytes
                packet(version, 0x40, b"devices/7/temp", 1, &[0], 5), // not a PUBLISH
            ];
            for bytes in &left {
                assert!(take_publish(bytes, version, 1_000, &topic).is_none());
            }
            let whole = packet(version, 0x32, b"devices/7/temp", 1, &[0], 300);
            for cut in [1, 2, 3, 10, whole.len() - 1] {
                assert!(
                    take_publish(&whole[..cut], version, 0, &topic).is_none(),
                    "{cut}"
                );
            }
        }
        // MQTT 5 properties, even an empty list written in two bytes, go to the codec.
        for props in [&[3, 0x23, 0, 1][..], &[0x80, 0]] {
            let bytes = packet(Version::V5, 0x32, b"devices/7/temp", 1, props, 5);
            assert!(take_publish(&bytes, Version::V5, 0, &topic).is_none());
        }
    }
}
