//! The two MQTT versions a source speaks (`mqtt.version`), behind one face: rumqttc's 3.1.1
//! client and its MQTT 5 client differ in every type, and the session ([`super::session`])
//! needs only connect, subscribe, poll, acknowledge and read a message.
//!
//! MQTT 5 specifics: a persistent session (`mqtt.clean.session.enabled=false`) asks the broker
//! to keep it (session expiry interval: the maximum), and a message's user properties, content
//! type and correlation data become Kafka headers.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as mqtt5;
use rumqttc::{TlsConfiguration, Transport};

use crate::config::{MqttSource, MqttVersion, ServerUri};
use crate::record::Header;

/// The largest message accepted from a remote broker.
const MAX_PACKET_BYTES: usize = 64 << 20;

pub enum Client {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

pub enum Events {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

/// One message from the remote broker.
#[derive(Debug, Clone)]
pub enum Message {
    V311(rumqttc::Publish),
    V5(mqtt5::Publish),
}

/// What a poll of the connection gave.
pub enum Incoming {
    Connected {
        session_present: bool,
    },
    /// The filters (by index) the broker refused.
    Subscribed {
        refused: Vec<usize>,
    },
    Message(Message),
    Other,
}

/// Level 0, 1 or 2.
fn level(qos: rumqttc::QoS) -> u8 {
    qos as u8
}

fn qos311(level: u8) -> rumqttc::QoS {
    match level {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos5(level: u8) -> rumqttc::v5::mqttbytes::QoS {
    match level {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// A client and its event loop for `server`, not connected yet (the first poll connects).
pub fn open(
    source: &MqttSource,
    server: &ServerUri,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
) -> (Client, Events) {
    let transport = match (server.tls, tls) {
        (true, Some(tls)) => Some(Transport::tls_with_config(TlsConfiguration::Rustls(tls))),
        _ => None,
    };
    // Acknowledgements queue in the client; there are never more than the packet ids.
    let capacity = usize::from(u16::MAX);
    match source.version {
        MqttVersion::V311 => {
            let mut o = rumqttc::MqttOptions::new(&source.client_id, &server.host, server.port);
            o.set_keep_alive(source.keep_alive)
                .set_clean_session(source.clean_session)
                .set_manual_acks(true)
                .set_max_packet_size(MAX_PACKET_BYTES, 1 << 20);
            if let Some(user) = &source.username {
                o.set_credentials(user, source.password.clone().unwrap_or_default());
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, mut events) = rumqttc::AsyncClient::new(o, capacity);
            let mut network = rumqttc::NetworkOptions::new();
            network.set_connection_timeout(source.connect_timeout.as_secs());
            events.set_network_options(network);
            (Client::V311(client), Events::V311(Box::new(events)))
        }
        MqttVersion::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(&source.client_id, &server.host, server.port);
            o.set_keep_alive(source.keep_alive)
                .set_clean_start(source.clean_session)
                .set_manual_acks(true)
                .set_max_packet_size(Some(MAX_PACKET_BYTES as u32));
            if !source.clean_session {
                o.set_session_expiry_interval(Some(u32::MAX));
            }
            if let Some(user) = &source.username {
                o.set_credentials(user, source.password.clone().unwrap_or_default());
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            // The Receive Maximum: QoS 1/2 messages the broker may have unacknowledged.
            o.set_receive_maximum(Some(source.max_inflight));
            o.set_connection_timeout(source.connect_timeout.as_secs());
            let (client, events) = rumqttc::v5::AsyncClient::new(o, capacity);
            (Client::V5(client), Events::V5(Box::new(events)))
        }
    }
}

impl Events {
    /// Polls once, giving the event loop back with the result (so the future can be kept
    /// whole across a `select!`).
    pub async fn poll(self) -> (Events, Result<Incoming, String>) {
        match self {
            Events::V311(mut e) => {
                let r = e.poll().await.map_err(|e| e.to_string()).map(|event| {
                    use rumqttc::{Event, Packet};
                    match event {
                        Event::Incoming(Packet::ConnAck(a)) => Incoming::Connected {
                            session_present: a.session_present,
                        },
                        Event::Incoming(Packet::SubAck(a)) => Incoming::Subscribed {
                            refused: (0..a.return_codes.len())
                                .filter(|&i| {
                                    a.return_codes[i] == rumqttc::SubscribeReasonCode::Failure
                                })
                                .collect(),
                        },
                        Event::Incoming(Packet::Publish(p)) => Incoming::Message(Message::V311(p)),
                        _ => Incoming::Other,
                    }
                });
                (Events::V311(e), r)
            }
            Events::V5(mut e) => {
                let r = e.poll().await.map_err(|e| e.to_string()).map(|event| {
                    use mqtt5::Packet;
                    use rumqttc::v5::Event;
                    match event {
                        Event::Incoming(Packet::ConnAck(a)) => Incoming::Connected {
                            session_present: a.session_present,
                        },
                        Event::Incoming(Packet::SubAck(a)) => Incoming::Subscribed {
                            refused: (0..a.return_codes.len())
                                .filter(|&i| {
                                    !matches!(
                                        a.return_codes[i],
                                        mqtt5::SubscribeReasonCode::Success(_)
                                    )
                                })
                                .collect(),
                        },
                        Event::Incoming(Packet::Publish(p)) => Incoming::Message(Message::V5(p)),
                        _ => Incoming::Other,
                    }
                });
                (Events::V5(e), r)
            }
        }
    }
}

impl Client {
    pub fn subscribe(&self, filters: &[String], qos: u8) -> Result<(), String> {
        match self {
            Client::V311(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos311(qos))),
                )
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| mqtt5::Filter::new(f.clone(), qos5(qos))),
                )
                .map_err(|e| e.to_string()),
        }
    }

    /// Acknowledges a QoS 1 or 2 message (PUBACK or PUBREC).
    pub fn ack(&self, m: &Message) -> Result<(), String> {
        match (self, m) {
            (Client::V311(c), Message::V311(p)) => c.try_ack(p).map_err(|e| e.to_string()),
            (Client::V5(c), Message::V5(p)) => c.try_ack(p).map_err(|e| e.to_string()),
            _ => Err("a message of the other MQTT version".into()),
        }
    }

    pub fn disconnect(&self) {
        let _ = match self {
            Client::V311(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Client::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        };
    }
}

impl Message {
    pub fn topic(&self) -> Cow<'_, str> {
        match self {
            Message::V311(p) => Cow::Borrowed(&p.topic),
            Message::V5(p) => String::from_utf8_lossy(&p.topic),
        }
    }

    pub fn payload(&self) -> Bytes {
        match self {
            Message::V311(p) => p.payload.clone(),
            Message::V5(p) => p.payload.clone(),
        }
    }

    /// 0, 1 or 2.
    pub fn qos(&self) -> u8 {
        match self {
            Message::V311(p) => level(p.qos),
            Message::V5(p) => p.qos as u8,
        }
    }

    /// The Kafka headers after `mqtt.topic` and `mqtt.qos`: `mqtt.retained`, then (MQTT 5)
    /// every user property as sent, `mqtt.content.type` and `mqtt.correlation.data`.
    pub fn headers(&self) -> Vec<Header> {
        let retain = match self {
            Message::V311(p) => p.retain,
            Message::V5(p) => p.retain,
        };
        let retained: &'static [u8] = if retain { b"true" } else { b"false" };
        let mut out: Vec<Header> =
            vec![("mqtt.retained".into(), Some(Bytes::from_static(retained)))];
        if let Message::V5(mqtt5::Publish {
            properties: Some(p),
            ..
        }) = self
        {
            out.extend(p.user_properties.iter().map(|(k, v)| {
                (
                    Cow::Owned(k.clone()),
                    Some(Bytes::copy_from_slice(v.as_bytes())),
                )
            }));
            if let Some(ct) = &p.content_type {
                out.push((
                    "mqtt.content.type".into(),
                    Some(Bytes::copy_from_slice(ct.as_bytes())),
                ));
            }
            if let Some(data) = &p.correlation_data {
                out.push(("mqtt.correlation.data".into(), Some(data.clone())));
            }
        }
        out
    }
}
