//! The packets a connection handles, independent of the protocol version: what comes in
//! ([`In`], from either codec's packet) and what goes out ([`Out`], encoded for the version).

use std::num::NonZeroU16;

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
    Publish(Box<rmqtt_codec::types::Publish>),
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

/// The Kafka headers an MQTT 5 PUBLISH's properties give, after `mqtt.topic` and `mqtt.qos`:
/// every user property (name and value as sent, in order, repeats kept), then
/// `mqtt.content.type` and `mqtt.correlation.data` when present. None for MQTT 3.1.1.
pub fn property_headers(publish: &rmqtt_codec::types::Publish) -> Vec<crate::record::Header> {
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
}
