//! Pipelined connections to one broker for the batch engine, plain or TLS
//! ([`super::tls_client`]), authenticated with SASL when configured ([`super::sasl_client`]):
//! requests written in order, answers matched to them in order on a
//! reader task, a deadline on the oldest outstanding request, and a small pool per broker that
//! reopens broken connections.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::framing::{read_frame, MAX_FRAME_BYTES};
use super::sasl_client::{KafkaSasl, SaslError};
use super::tls_client::KafkaTls;
use super::wire;

/// A connection's read side: plain TCP, or TLS (`security.protocol=SSL`).
enum Reader {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// A connection's write side.
enum Writer {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Reader::Plain(r) => Pin::new(r).poll_read(cx, buf),
            Reader::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Writer::Plain(w) => Pin::new(w).poll_write(cx, buf),
            Writer::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Writer::Plain(w) => Pin::new(w).poll_flush(cx),
            Writer::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Writer::Plain(w) => Pin::new(w).poll_shutdown(cx),
            Writer::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Writer::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            Writer::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Writer::Plain(w) => w.is_write_vectored(),
            Writer::Tls(w) => w.is_write_vectored(),
        }
    }
}

/// Why a request to a broker did not produce an answer.
#[derive(Debug, Clone)]
pub(super) enum SendError {
    /// The request never reached the broker whole: safe to send again.
    NotSent(String),
    /// The request was sent but its answer is unknown: it may have been written.
    Unknown(String),
}

/// What to do with a request's answer, or with the reason it has none. Called exactly once.
pub(super) type OnAnswer = Box<dyn FnOnce(Result<Bytes, SendError>) + Send>;

struct Waiter {
    id: i32,
    deadline: tokio::time::Instant,
    on_answer: OnAnswer,
}

#[derive(Default)]
struct Pending {
    waiters: VecDeque<Waiter>,
    closed: Option<String>,
}

/// One pipelined broker connection. Kafka answers a connection's requests in order, so the
/// waiters are a FIFO checked against each answer's correlation id, and answers are handled on
/// the connection's reader task (no hand-off to the sender).
pub(super) struct Connection {
    writer: tokio::sync::Mutex<(Writer, i32)>,
    pending: Arc<Mutex<Pending>>,
    broken: Arc<AtomicBool>,
    pub(super) produce_version: i16,
    /// Every API version range the broker announced (the admin requests pick theirs here).
    pub(super) versions: Arc<wire::ApiVersions>,
    request_timeout: Duration,
    /// When the broker's SASL session ends (KIP-368): past it, the pool opens a new connection.
    retire_at: Option<tokio::time::Instant>,
}

/// The ApiVersions exchange (the Produce version both sides speak), then SASL when configured
/// (and when the session must be renewed).
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    addr: &str,
    client_id: &str,
    sasl: Option<&KafkaSasl>,
) -> Result<(i16, Arc<wire::ApiVersions>, Option<tokio::time::Instant>), OpenError> {
    let at = || addr.to_string();
    let mut request = wire::api_versions_request(client_id);
    wire::set_correlation_id(&mut request, 0);
    stream
        .write_all(&request)
        .await
        .map_err(|source| OpenError::Socket { addr: at(), source })?;
    let mut frame = read_frame(stream)
        .await
        .map_err(|source| OpenError::ApiVersions { addr: at(), source })?;
    let body = frame.split_off(4);
    let versions = wire::parse_api_versions(body)
        .map_err(|source| OpenError::Decode { addr: at(), source })?;
    let (min, max) = versions
        .range(wire::API_PRODUCE)
        .ok_or_else(|| OpenError::NoProduce(at()))?;
    let version = max.min(*wire::PRODUCE_VERSIONS.end());
    if version < *wire::PRODUCE_VERSIONS.start() || version < min {
        return Err(OpenError::ProduceVersions {
            addr: at(),
            min,
            max,
        });
    }
    let retire_at = match sasl {
        None => None,
        Some(sasl) => {
            sasl.authenticate(stream, client_id)
                .await
                .map_err(|source| OpenError::Sasl { addr: at(), source })?
                .retire_at
        }
    };
    Ok((version, Arc::new(versions), retire_at))
}

/// Why a connection to a broker could not be opened for the batch engine.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    NoDelay(std::io::Error),
    #[error("{addr}: {source}")]
    Socket {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr}: ApiVersions: {source}")]
    ApiVersions {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Decode {
        addr: String,
        source: wire::DecodeError,
    },
    #[error("{0} does not support Produce")]
    NoProduce(String),
    #[error(
        "{addr} supports Produce v{min}-v{max}; the batch engine needs v3-v8 \
         (set produce.engine=librdkafka)"
    )]
    ProduceVersions { addr: String, min: i16, max: i16 },
    #[error("connect to {0}: timed out")]
    TimedOut(String),
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        addr: String,
        source: std::io::Error,
    },
    #[error("SASL with {addr}: {source}")]
    Sasl { addr: String, source: SaslError },
}

impl OpenError {
    /// The broker refused this client's credentials or mechanism: opening again cannot help,
    /// so the records fail at once with this Kafka error code instead of waiting out
    /// `delivery.timeout.ms`.
    pub(super) fn refusal(&self) -> Option<i16> {
        match self {
            OpenError::Sasl {
                source: SaslError::Refused { code, .. },
                ..
            } => Some(*code),
            // UNSUPPORTED_SASL_MECHANISM
            OpenError::Sasl {
                source: SaslError::Unsupported { .. },
                ..
            } => Some(33),
            // ILLEGAL_SASL_STATE
            OpenError::Sasl {
                source: SaslError::Handshake(_),
                ..
            } => Some(34),
            _ => None,
        }
    }
}

impl Connection {
    async fn open(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        tls: Option<&KafkaTls>,
        sasl: Option<&KafkaSasl>,
    ) -> Result<Connection, OpenError> {
        let at = || addr.to_string();
        let setup = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|source| OpenError::Connect { addr: at(), source })?;
            stream.set_nodelay(true).map_err(OpenError::NoDelay)?;
            match tls {
                None => {
                    let mut stream = stream;
                    let (version, versions, retire_at) =
                        handshake(&mut stream, addr, client_id, sasl).await?;
                    let (read, write) = stream.into_split();
                    Ok((
                        Reader::Plain(read),
                        Writer::Plain(write),
                        (version, versions),
                        retire_at,
                    ))
                }
                Some(tls) => {
                    let mut stream = tls
                        .connect(addr, stream)
                        .await
                        .map_err(|source| OpenError::Tls { addr: at(), source })?;
                    let (version, versions, retire_at) =
                        handshake(&mut stream, addr, client_id, sasl).await?;
                    let (read, write) = tokio::io::split(stream);
                    Ok((
                        Reader::Tls(read),
                        Writer::Tls(write),
                        (version, versions),
                        retire_at,
                    ))
                }
            }
        };
        let (read, write, (produce_version, versions), retire_at) =
            tokio::time::timeout(timeout, setup)
                .await
                .map_err(|_| OpenError::TimedOut(at()))??;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let broken = Arc::new(AtomicBool::new(false));
        tokio::spawn(read_loop(read, pending.clone(), broken.clone()));
        Ok(Connection {
            writer: tokio::sync::Mutex::new((write, 1)),
            pending,
            broken,
            produce_version,
            versions,
            request_timeout: timeout,
            retire_at,
        })
    }

    /// Broken, or its SASL session is ending: no new requests go to it (those in flight finish).
    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
            || self
                .retire_at
                .is_some_and(|at| tokio::time::Instant::now() >= at)
    }

    /// Writes one request frame. `on_answer`, if any, gets the answer body, or `NotSent` when the
    /// frame did not leave whole, or `Unknown` when the connection failed or no answer came
    /// within the request timeout. Without `on_answer` (acks=0) the result is the write's.
    pub(super) async fn send(
        &self,
        mut frame: BytesMut,
        on_answer: Option<OnAnswer>,
    ) -> Result<(), SendError> {
        let mut writer = self.writer.lock().await;
        let id = writer.1;
        writer.1 = writer.1.wrapping_add(1).max(1);
        wire::set_correlation_id(&mut frame, id);
        let expects_answer = on_answer.is_some();
        if let Some(on_answer) = on_answer {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(why) = &pending.closed {
                let why = SendError::NotSent(why.clone());
                drop(pending);
                on_answer(Err(why.clone()));
                return Err(why);
            }
            pending.waiters.push_back(Waiter {
                id,
                deadline: tokio::time::Instant::now() + self.request_timeout,
                on_answer,
            });
        }
        if let Err(e) = writer.0.write_all(&frame).await {
            // A frame cut short is never processed: this request was not sent. The connection
            // is shut so the broker sees the cut; requests written before it stay pending.
            self.broken.store(true, Ordering::Release);
            let _ = writer.0.shutdown().await;
            let why = SendError::NotSent(e.to_string());
            if expects_answer {
                let mine = {
                    let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                    match pending.waiters.back() {
                        Some(w) if w.id == id => pending.waiters.pop_back(),
                        _ => None,
                    }
                };
                if let Some(w) = mine {
                    (w.on_answer)(Err(why.clone()));
                }
            }
            return Err(why);
        }
        Ok(())
    }
}

/// Reads answers and hands each to its waiter. Cancel-safe buffered reads let it wake at the
/// oldest request's deadline: past it, the connection is given up and every waiter is told.
async fn read_loop(mut read: Reader, pending: Arc<Mutex<Pending>>, broken: Arc<AtomicBool>) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let why = 'conn: loop {
        while buf.len() >= 4 {
            let size = i32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
            if !(4..=MAX_FRAME_BYTES as i32).contains(&size) {
                break 'conn format!("bad response size {size}");
            }
            if buf.len() < 4 + size as usize {
                buf.reserve(4 + size as usize - buf.len());
                break;
            }
            let _ = buf.split_to(4);
            let mut frame = buf.split_to(size as usize).freeze();
            let id = i32::from_be_bytes(frame[..4].try_into().expect("4 bytes"));
            let body = frame.split_off(4);
            let waiter = pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .waiters
                .pop_front();
            match waiter {
                Some(w) if w.id == id => (w.on_answer)(Ok(body)),
                Some(w) => {
                    let why = format!("answer {id} arrived while {} was expected", w.id);
                    (w.on_answer)(Err(SendError::Unknown(why.clone())));
                    break 'conn why;
                }
                None => break 'conn format!("unexpected answer {id}"),
            }
        }
        let now = tokio::time::Instant::now();
        let oldest = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiters
            .front()
            .map(|w| w.deadline);
        if oldest.is_some_and(|d| d <= now) {
            break "no answer within request.timeout.ms".to_string();
        }
        // Requests registered while waiting are seen within a second.
        let wake = oldest
            .unwrap_or(now + Duration::from_secs(1))
            .min(now + Duration::from_secs(1));
        match tokio::time::timeout_at(wake, read.read_buf(&mut buf)).await {
            Ok(Ok(0)) => break "connection closed by the broker".to_string(),
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => break format!("connection lost: {e}"),
        }
    };
    broken.store(true, Ordering::Release);
    let waiters: Vec<Waiter> = {
        let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.closed = Some(why.clone());
        pending.waiters.drain(..).collect()
    };
    for w in waiters {
        (w.on_answer)(Err(SendError::Unknown(why.clone())));
    }
}

/// The connections to one broker, used round-robin and reopened when broken.
pub(super) struct Pool {
    pub(super) addr: String,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Connection>>>>,
    next: AtomicUsize,
}

impl Pool {
    pub(super) fn new(addr: &str, connections: usize) -> Self {
        Pool {
            addr: addr.to_string(),
            slots: (0..connections.max(1))
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next connection, opened (with `client_id`, within `timeout`) if needed.
    pub(super) async fn connection(
        &self,
        client_id: &str,
        timeout: Duration,
        tls: Option<&KafkaTls>,
        sasl: Option<&KafkaSasl>,
    ) -> Result<Arc<Connection>, OpenError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_broken()) {
            return Ok(c.clone());
        }
        let c = Arc::new(Connection::open(&self.addr, client_id, timeout, tls, sasl).await?);
        *slot = Some(c.clone());
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use local_broker::sasl::{SaslTansu, MECHANISMS, TEST_USER};

    fn sasl(mechanism: &str, user: &str, password: &str) -> KafkaSasl {
        KafkaSasl::from_properties(|k| match k {
            "sasl.mechanism" => Some(mechanism),
            "sasl.username" => Some(user),
            "sasl.password" => Some(password),
            _ => None,
        })
        .unwrap()
    }

    /// Against the local broker's SASL front: every mechanism gets a usable connection with the
    /// right password, and a refusal the engine does not retry (SASL_AUTHENTICATION_FAILED) with
    /// a wrong password or an unknown user; without SASL the front closes the connection.
    #[tokio::test]
    async fn sasl_on_open() {
        let kafka = tokio::task::spawn_blocking(|| SaslTansu::start(false))
            .await
            .unwrap()
            .unwrap();
        let addr = kafka.bootstrap().to_string();
        let timeout = Duration::from_secs(10);
        for mechanism in MECHANISMS {
            let good = sasl(mechanism, TEST_USER.0, TEST_USER.1);
            let c = Connection::open(&addr, "t", timeout, None, Some(&good))
                .await
                .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
            assert!(!c.is_broken());
            assert!(c.retire_at.is_none());
            for (user, password) in [(TEST_USER.0, "wrong"), ("nobody", TEST_USER.1)] {
                let bad = sasl(mechanism, user, password);
                let e = match Connection::open(&addr, "t", timeout, None, Some(&bad)).await {
                    Ok(_) => panic!("{mechanism} {user}/{password} was let in"),
                    Err(e) => e,
                };
                assert_eq!(e.refusal(), Some(58), "{mechanism} {user}: {e}");
            }
        }
        // No SASL: the front answers ApiVersions, then closes on the first other request, as a
        // SASL listener does; opening succeeds (ApiVersions only) but the connection breaks.
        let plain = Connection::open(&addr, "t", timeout, None, None)
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut frame = wire::api_versions_request("t");
        frame[4..6].copy_from_slice(&wire::API_PRODUCE.to_be_bytes());
        let _ = plain
            .send(
                frame,
                Some(Box::new(move |answer| {
                    let _ = tx.send(answer.is_err());
                })),
            )
            .await;
        assert!(rx.await.unwrap(), "an unauthenticated request was answered");
    }

    /// KIP-368: a broker's session lifetime retires the connection before the broker would
    /// close it, and the pool then opens a fresh, freshly authenticated one that works.
    #[tokio::test]
    async fn sessions_are_renewed_before_they_end() {
        let lifetime = Duration::from_millis(3000);
        let kafka =
            tokio::task::spawn_blocking(move || SaslTansu::start_with(false, &[], Some(lifetime)))
                .await
                .unwrap()
                .unwrap();
        let pool = Pool::new(kafka.bootstrap(), 1);
        let creds = sasl("SCRAM-SHA-512", TEST_USER.0, TEST_USER.1);
        let timeout = Duration::from_secs(10);
        let first = pool
            .connection("t", timeout, None, Some(&creds))
            .await
            .unwrap();
        let retire = first.retire_at.expect("the broker gave a session lifetime");
        let left = retire - tokio::time::Instant::now();
        // A tenth of the session, at least a second, at most half: retired 1 s early.
        assert!(left <= Duration::from_millis(2000), "{left:?}");
        assert!(left >= Duration::from_millis(1500), "{left:?}");
        let again = pool
            .connection("t", timeout, None, Some(&creds))
            .await
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "reused while the session lasts"
        );
        tokio::time::sleep_until(retire + Duration::from_millis(50)).await;
        assert!(first.is_broken());
        let fresh = pool
            .connection("t", timeout, None, Some(&creds))
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &fresh));
        // The fresh connection answers requests (ApiVersions through the relay).
        let (tx, rx) = tokio::sync::oneshot::channel();
        fresh
            .send(
                wire::api_versions_request("t"),
                Some(Box::new(move |answer| {
                    let _ = tx.send(answer.is_ok());
                })),
            )
            .await
            .unwrap();
        assert!(rx.await.unwrap());
    }
}
