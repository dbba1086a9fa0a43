//! A connection's start: the protocol level, CONNECT checked (connection cap, credentials,
//! client id) and answered with CONNACK, then the session; an MQTT 5 session that ends early is
//! told why with DISCONNECT.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rmqtt_codec::v3::{self, ConnectAck, ConnectAckReason, Packet};
use rmqtt_codec::v5;
use rmqtt_codec::version::{ProtocolVersion, VersionCodec};
use rmqtt_codec::{MqttCodec, MqttPacket};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::batcher::Stats;
use super::ingest::{Ingest, CONNECT_TIMEOUT};
use super::packets::Version;
use super::session::session;
use crate::credentials as auth;

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

/// Serves one connection, from its first byte to its close.
pub(super) async fn connection<S>(
    stream: S,
    slot: Option<OwnedSemaphorePermit>,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionEnd>
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
            return Err(ConnectionEnd::NotMqtt(e.to_string()));
        }
        _ => return Err(ConnectionEnd::NoConnect),
    };
    let connect = match tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await {
        Ok(Some(Ok((packet, _)))) => packet,
        Ok(Some(Err(e))) => return Err(ConnectionEnd::MalformedConnect(e.to_string())),
        _ => return Err(ConnectionEnd::NoConnect),
    };
    let keep_alive = match connect {
        MqttPacket::V3(Packet::Connect(c)) => {
            // MQTT 3.1 ("MQIsdp", level 3) is not 3.1.1: CONNACK 1, then close [MQTT-3.1.2-2].
            if c.protocol.0 != 4 {
                let refused = Packet::ConnectAck(ConnectAck {
                    return_code: ConnectAckReason::UnacceptableProtocolVersion,
                    session_present: false,
                });
                let _ = framed.send(MqttPacket::V3(refused)).await;
                return Err(ConnectionEnd::ProtocolLevel(
                    c.protocol.0,
                    c.protocol.name().to_string(),
                ));
            }
            // A password without a user name is a malformed 3.1.1 CONNECT [MQTT-3.1.2-22]:
            // closed without CONNACK.
            if c.password.is_some() && c.username.is_none() {
                return Err(ConnectionEnd::MalformedConnect(
                    "a password flag without a user name".into(),
                ));
            }
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
                return Err(ConnectionEnd::Refused(refusal.why()));
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
                return Err(ConnectionEnd::Refused(refusal.why()));
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
        _ => return Err(ConnectionEnd::NotConnectFirst),
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
            Err(ConnectionEnd::Closed(c.why))
        }
    }
}

async fn send<S>(framed: &mut Framed<S, MqttCodec>, packet: MqttPacket) -> Result<(), ConnectionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    framed
        .send(packet)
        .await
        .map_err(|e| ConnectionEnd::Write(e.to_string()))
}

/// Why a connection ended other than by the client's DISCONNECT (logged at `debug`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ConnectionEnd {
    #[error("no CONNECT")]
    NoConnect,
    #[error("not an MQTT 3.1.1 or 5 CONNECT: {0}")]
    NotMqtt(String),
    #[error("malformed CONNECT: {0}")]
    MalformedConnect(String),
    #[error("protocol level {0} ({1}) is not served; only 3.1.1 and 5")]
    ProtocolLevel(u8, String),
    #[error("the first packet is not CONNECT")]
    NotConnectFirst,
    /// CONNECT refused (CONNACK with a reason).
    #[error("{0}")]
    Refused(&'static str),
    /// The session closed it (for MQTT 5, with DISCONNECT and this reason string).
    #[error("{0}")]
    Closed(String),
    #[error("writing: {0}")]
    Write(String),
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
    #[error("no TLS handshake within {0:?}")]
    NoTlsHandshake(std::time::Duration),
}
