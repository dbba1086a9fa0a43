//! SASL from the batch engine to the brokers (`security.protocol=SASL_PLAINTEXT` or `SASL_SSL`):
//! PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (`sasl.mechanism`, `sasl.username`,
//! `sasl.password`), the mechanisms' client side from the `rsasl` crate, carried in Kafka's
//! SaslHandshake v1 and SaslAuthenticate v1 (KIP-152) right after ApiVersions, on every
//! connection the engine opens. A broker's session lifetime (KIP-368) is honoured by retiring the
//! connection before it ends ([`Authenticated::retire_at`]); the engine then opens a fresh,
//! freshly authenticated one. Other mechanisms (GSSAPI, OAUTHBEARER) leave produce to librdkafka's
//! producer (`produce.engine=auto`).

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::config::SASLConfig;
use rsasl::mechname::Mechname;
use rsasl::prelude::{MessageSent, SASLClient, SessionError, State};
use rsasl::property::{AuthId, Password};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::wire;

/// The `sasl.*` keys the batch engine reads; with any other the producer is librdkafka's.
pub const SASL_PROPERTIES: &[&str] = &[
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
];

/// The mechanisms the batch engine speaks.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The batch engine's SASL credentials.
#[derive(Clone)]
pub struct KafkaSasl {
    mechanism: &'static str,
    config: Arc<SASLConfig>,
}

impl std::fmt::Debug for KafkaSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "KafkaSasl({})", self.mechanism)
    }
}

/// Answers rsasl's questions with the configured user and password.
struct Credentials {
    username: String,
    password: String,
}

impl SessionCallback for Credentials {
    fn callback(
        &self,
        _session: &SessionData,
        _context: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        request
            .satisfy::<AuthId>(self.username.as_str())?
            .satisfy::<Password>(self.password.as_bytes())?;
        Ok(())
    }
}

/// Why SASL authentication with a broker failed.
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] wire::DecodeError),
    #[error("the broker does not enable SASL mechanism {wanted}; it offers {offered:?}")]
    Unsupported {
        wanted: &'static str,
        offered: Vec<String>,
    },
    #[error("SaslHandshake refused with error code {0}")]
    Handshake(i16),
    /// The broker refused the credentials (error code 58 and its message).
    #[error("authentication failed ({code}): {message}")]
    Refused { code: i16, message: String },
    #[error("{mechanism}: {why}")]
    Mechanism {
        mechanism: &'static str,
        why: String,
    },
    #[error("answer {got} arrived while {want} was expected")]
    Correlation { got: i32, want: i32 },
}

/// What a successful authentication leaves: when the broker wants the session renewed.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    /// Stop sending on the connection at this instant (the broker would close it soon after).
    pub retire_at: Option<tokio::time::Instant>,
}

impl KafkaSasl {
    /// The SASL settings of `get` (the merged client and producer properties); librdkafka's
    /// default mechanism is GSSAPI, which the engine does not speak.
    pub fn from_properties<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<KafkaSasl, String> {
        let wanted = get("sasl.mechanism")
            .or(get("sasl.mechanisms"))
            .unwrap_or("GSSAPI")
            .trim();
        let mechanism = MECHANISMS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "sasl.mechanism {wanted} is not one the batch engine speaks ({})",
                    MECHANISMS.join(", ")
                )
            })?;
        let username = get("sasl.username").ok_or("SASL needs sasl.username")?;
        let password = get("sasl.password").ok_or("SASL needs sasl.password")?;
        let config = SASLConfig::builder()
            .with_defaults()
            .with_callback(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            })
            .map_err(|e| format!("SASL: {e}"))?;
        Ok(KafkaSasl { mechanism, config })
    }

    /// The mechanism's name as Kafka spells it.
    pub fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// Authenticates a fresh connection (after ApiVersions, whose correlation id was 0).
    pub(super) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        client_id: &str,
    ) -> Result<Authenticated, SaslError> {
        let mechanism = self.mechanism;
        let fail = |why: String| SaslError::Mechanism { mechanism, why };
        let mut id = 1;
        let answer = exchange(
            stream,
            wire::sasl_handshake_request(client_id, mechanism),
            id,
        )
        .await?;
        let (code, offered) = wire::parse_sasl_handshake(answer)?;
        match code {
            0 => {}
            // UNSUPPORTED_SASL_MECHANISM
            33 => {
                return Err(SaslError::Unsupported {
                    wanted: mechanism,
                    offered,
                })
            }
            code => return Err(SaslError::Handshake(code)),
        }
        let name = Mechname::parse(mechanism.as_bytes()).map_err(|e| fail(e.to_string()))?;
        let mut session = SASLClient::new(self.config.clone())
            .start_suggested(&[name])
            .map_err(|e| fail(e.to_string()))?;
        // Every mechanism here is client-first. PLAIN is one token; SCRAM is client-first →
        // server-first, client-final → server-final, and a last step that checks the broker's
        // signature in server-final (a broker that does not know the password is refused here).
        let mut input: Option<Bytes> = None;
        let mut retire_at = None;
        loop {
            let mut token = Cursor::new(Vec::new());
            let state = session
                .step(input.as_deref(), &mut token)
                .map_err(|e| fail(e.to_string()))?;
            if matches!(state, State::Finished(MessageSent::No)) {
                return Ok(Authenticated { retire_at });
            }
            id += 1;
            let answer = exchange(
                stream,
                wire::sasl_authenticate_request(client_id, token.get_ref()),
                id,
            )
            .await?;
            let answer = wire::parse_sasl_authenticate(answer)?;
            if answer.error_code != 0 {
                return Err(SaslError::Refused {
                    code: answer.error_code,
                    message: answer.error_message.unwrap_or_default(),
                });
            }
            retire_at = (answer.session_lifetime_ms > 0).then(|| {
                // Leave a tenth of the session (at least a second) for requests in flight.
                let life = Duration::from_millis(answer.session_lifetime_ms as u64);
                let margin = (life / 10).max(Duration::from_secs(1)).min(life / 2);
                tokio::time::Instant::now() + life - margin
            });
            match state {
                State::Running => input = Some(answer.token),
                State::Finished(_) => return Ok(Authenticated { retire_at }),
            }
            if id > 8 {
                return Err(fail("the exchange did not end".into()));
            }
        }
    }
}

/// Writes one request with correlation id `id` and reads its answer body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    mut request: bytes::BytesMut,
    id: i32,
) -> Result<Bytes, SaslError> {
    wire::set_correlation_id(&mut request, id);
    stream.write_all(&request).await?;
    let mut frame = super::framing::read_frame(stream).await?;
    let got = i32::from_be_bytes(frame[..4].try_into().expect("frames hold 4 bytes"));
    if got != id {
        return Err(SaslError::Correlation { got, want: id });
    }
    Ok(frame.split_off(4))
}
