//! Admin requests that librdkafka's admin client (as rust-rdkafka exposes it) cannot send:
//! DescribeConfigs with synonyms, IncrementalAlterConfigs, the ACL requests and
//! ListPartitionReassignments. They are encoded with the `kafka-protocol` crate's generated
//! codecs and sent over the batch engine's broker connections ([`super::connection`]), so they
//! use the same TLS and SASL (PLAIN, SCRAM) settings as everything else. The version of each
//! request is the highest both the broker (its ApiVersions answer) and the codec know.
//!
//! A broker that does not offer an API gets UNSUPPORTED_VERSION (35) without a request being
//! sent, as Kafka's own admin client answers; SASL mechanisms the proxy cannot speak itself
//! (OAUTHBEARER, GSSAPI) make these calls fail with that reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, StrBytes};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;

use super::connection::{Pool, SendError};
use super::error::Error;
use super::sasl_client::KafkaSasl;
use super::tls_client::KafkaTls;

/// A request this client sends, with its API key and answer.
pub(super) trait Call: Encodable + HeaderVersion + Message {
    const KEY: ApiKey;
    type Response: Decodable + HeaderVersion + Message;
}

macro_rules! calls {
    ($($request:ty => $response:ty, $key:ident;)*) => {
        $(impl Call for $request {
            const KEY: ApiKey = ApiKey::$key;
            type Response = $response;
        })*
    };
}

calls! {
    DescribeConfigsRequest => DescribeConfigsResponse, DescribeConfigs;
    IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse, IncrementalAlterConfigs;
    DescribeAclsRequest => DescribeAclsResponse, DescribeAcls;
    CreateAclsRequest => CreateAclsResponse, CreateAcls;
    DeleteAclsRequest => DeleteAclsResponse, DeleteAcls;
    ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse, ListPartitionReassignments;
}

/// How to reach the brokers: the `client.*` connection settings.
#[derive(Debug, Clone)]
pub struct WireAccess {
    pub client_id: String,
    pub timeout: Duration,
    pub tls: Option<KafkaTls>,
    pub sasl: Option<KafkaSasl>,
}

/// Connections to the brokers for admin requests, one per broker, opened on first use.
pub struct WireAdmin {
    /// The settings, or why the proxy cannot open such connections itself.
    access: Result<WireAccess, String>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

/// A Kafka error code as the proxy's admin error, with Kafka's message when it gave one
/// (librdkafka's text for the code otherwise).
pub(super) fn refusal(code: i16, message: Option<&StrBytes>) -> Error {
    let code = RDKafkaRespErr::try_from(i32::from(code))
        .map(RDKafkaErrorCode::from)
        .unwrap_or(RDKafkaErrorCode::Unknown);
    let message = match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => code.to_string(),
    };
    Error::Admin { code, message }
}

/// Ok for error code 0, else the code as [`refusal`].
pub(super) fn check(code: i16, message: Option<&StrBytes>) -> Result<(), Error> {
    if code == 0 {
        Ok(())
    } else {
        Err(refusal(code, message))
    }
}

impl WireAdmin {
    pub fn new(access: Result<WireAccess, String>) -> WireAdmin {
        WireAdmin {
            access,
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` to the broker at `addr` (`host:port`) and decodes its answer.
    pub(super) async fn call<R: Call>(
        &self,
        addr: &str,
        request: &R,
    ) -> Result<R::Response, Error> {
        let access = self.access.as_ref().map_err(|why| Error::Admin {
            code: RDKafkaErrorCode::UnsupportedFeature,
            message: format!("{:?} cannot be sent: {why}", R::KEY),
        })?;
        let pool = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(Pool::new(addr, 1)))
            .clone();
        let unavailable = |why: String| Error::Admin {
            code: RDKafkaErrorCode::BrokerTransportFailure,
            message: format!("{addr}: {why}"),
        };
        let conn = pool
            .connection(
                &access.client_id,
                access.timeout,
                access.tls.as_ref(),
                access.sasl.as_ref(),
            )
            .await
            .map_err(|e| match e.refusal() {
                Some(_) => Error::Authentication(e.to_string()),
                None => unavailable(e.to_string()),
            })?;
        let key = R::KEY as i16;
        let version = conn
            .versions
            .range(key)
            .map(|(min, max)| (min.max(R::VERSIONS.min), max.min(R::VERSIONS.max)))
            .filter(|(min, max)| min <= max)
            .map(|(_, max)| max)
            .ok_or_else(|| Error::Admin {
                code: RDKafkaErrorCode::UnsupportedVersion,
                message: format!("The broker at {addr} does not support {:?}", R::KEY),
            })?;
        let frame = encode(&access.client_id, key, version, request)
            .map_err(|e| Error::Internal(format!("encoding {:?}: {e}", R::KEY)))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = conn
            .send(
                frame,
                Some(Box::new(move |answer| {
                    let _ = tx.send(answer);
                })),
            )
            .await;
        let body = match rx.await {
            Ok(Ok(body)) => body,
            Ok(Err(SendError::NotSent(why) | SendError::Unknown(why))) => {
                return Err(unavailable(why))
            }
            Err(_) => return Err(unavailable("the connection closed".into())),
        };
        decode::<R>(body, version).map_err(|e| {
            Error::Internal(format!(
                "the answer of {addr} to {:?} does not decode: {e}",
                R::KEY
            ))
        })
    }
}

/// A whole request frame: size, header (correlation id 0, set when sent), body.
fn encode<R: Call>(
    client_id: &str,
    key: i16,
    version: i16,
    request: &R,
) -> Result<BytesMut, String> {
    let header = RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    header
        .encode(&mut out, R::header_version(version))
        .map_err(|e| e.to_string())?;
    request
        .encode(&mut out, version)
        .map_err(|e| e.to_string())?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Decodes an answer body (after the correlation id, which the connection has matched).
fn decode<R: Call>(body: Bytes, version: i16) -> Result<R::Response, String> {
    let header_version = R::Response::header_version(version);
    let mut buf = if header_version >= 1 {
        // The flexible header's tagged fields follow the correlation id.
        let mut whole = BytesMut::with_capacity(body.len() + 4);
        whole.put_i32(0);
        whole.extend_from_slice(&body);
        let mut whole = whole.freeze();
        ResponseHeader::decode(&mut whole, header_version).map_err(|e| e.to_string())?;
        whole
    } else {
        body
    };
    R::Response::decode(&mut buf, version).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

    #[test]
    fn frames_carry_key_version_and_size() {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t")),
        ]);
        for version in [1, 4] {
            let frame = encode("me", 32, version, &request).unwrap();
            let size = i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
            assert_eq!(size, frame.len() - 4);
            assert_eq!(&frame[4..8], &[0, 32, 0, version as u8]);
        }
    }

    #[test]
    fn answers_decode_with_flexible_headers() {
        // DescribeAcls answers refusing with SECURITY_DISABLED and a message, as a broker
        // writes them: v1 (classic strings and arrays), v2 (flexible: a tagged-field byte in
        // the header, compact strings and arrays, tagged fields at the end).
        let message = b"no authorizer";
        let mut v1 = BytesMut::new();
        v1.put_i32(0); // throttle
        v1.put_i16(54);
        v1.put_i16(message.len() as i16);
        v1.put_slice(message);
        v1.put_i32(0); // resources
        let mut v2 = BytesMut::new();
        v2.put_u8(0); // header tagged fields
        v2.put_i32(0);
        v2.put_i16(54);
        v2.put_u8(message.len() as u8 + 1);
        v2.put_slice(message);
        v2.put_u8(1); // empty compact array
        v2.put_u8(0); // tagged fields
        for (version, body) in [(1i16, v1), (2, v2)] {
            let back = decode::<DescribeAclsRequest>(body.freeze(), version).unwrap();
            assert_eq!(back.error_code, 54);
            let e = check(back.error_code, back.error_message.as_ref()).unwrap_err();
            assert_eq!(e.to_string(), "no authorizer");
        }
        assert!(decode::<DescribeAclsRequest>(Bytes::from_static(&[0, 0]), 1).is_err());
        assert!(check(0, None).is_ok());
        let unsupported = refusal(35, None).to_string();
        assert!(unsupported.contains("version"), "{unsupported}");
    }
}
