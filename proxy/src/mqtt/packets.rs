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

/// The Kafka headers an MQTT 5 PUBLISH's properties give, after `mqtt.topic` and `mqtt.qos`:
/// every user property (name and value as sent, in order, repeats kept), then
/// `mqtt.content.type` and `mqtt.correlation.data` when present. None for MQTT 3.1.1.
pub fn property_headers(publish: &rmqtt_codec::types::Publish) -> Vec<crate::record::Header> {
    let Some(p) = &publish.properties else {
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
