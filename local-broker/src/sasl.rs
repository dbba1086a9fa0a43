//! SASL in front of Tansu, for the secured-Kafka tests and `loadgen --broker tansu-sasl`.
//!
//! Tansu 0.6.0 authenticates SCRAM only against users created through the broker itself
//! (AlterUserScramCredentials), which with `--authentication` must already be authenticated: its
//! in-memory storage can never get a first user. Its build also lacks PLAIN. So the local broker
//! gets SASL the way the TLS tests get TLS: a front on its own port that speaks the broker side of
//! Kafka's SASL exchange (ApiVersions forwarded to Tansu, then SaslHandshake v0–v1 and
//! SaslAuthenticate v0–v1, KIP-152) with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 from the `rsasl`
//! crate, checks the credentials against its users, and then relays the connection's bytes to
//! Tansu untouched. Tansu advertises the front's port in metadata, so every connection a client
//! opens (bootstrap and leaders) goes through it. Any other request before authentication closes
//! the connection, as Kafka does. Behind stunnel ([`crate::tls::Terminator`]) it makes SASL_SSL.
//!
//! The SCRAM stored keys are derived here (RFC 5802: PBKDF2, HMAC, H) from the users' passwords,
//! so the server side is checked independently of the client libraries under test: librdkafka
//! (the native clients) and rsasl (the proxy's batch engine) must both get through it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::config::SASLConfig;
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::mechname::Mechname;
use rsasl::prelude::{SASLServer, SessionError, State, Validation};
use rsasl::property::{AuthId, Password};
use rsasl::validate::{Validate, ValidationError};
use sha2::{Digest, Sha256, Sha512};

/// The mechanisms the front enables, as its SaslHandshake answers list them.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

const SCRAM_ITERATIONS: u32 = 4096;

/// One SCRAM credential as a Kafka broker stores it (never the password).
struct Stored {
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

fn scram_keys<D>(password: &[u8], salt: &[u8]) -> Stored
where
    D: Digest + hmac::digest::core_api::BlockSizeUser + Clone + Sync,
{
    let mut salted = vec![0u8; <D as Digest>::output_size()];
    pbkdf2::pbkdf2::<SimpleHmac<D>>(password, salt, SCRAM_ITERATIONS, &mut salted)
        .expect("HMAC takes any key length");
    let hmac = |key: &[u8], msg: &[u8]| -> Vec<u8> {
        let mut mac =
            <SimpleHmac<D> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    };
    let client_key = hmac(&salted, b"Client Key");
    Stored {
        salt: salt.to_vec(),
        stored_key: D::digest(&client_key).to_vec(),
        server_key: hmac(&salted, b"Server Key"),
    }
}

/// The users the front accepts, with PLAIN passwords and SCRAM credentials for both hashes.
struct Users {
    passwords: HashMap<String, String>,
    scram: HashMap<(&'static str, String), Stored>,
}

impl Users {
    fn new(users: &[(String, String)]) -> io::Result<Users> {
        let mut scram = HashMap::new();
        for (user, password) in users {
            let mut salt = [0u8; 16];
            std::fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
            scram.insert(
                ("SCRAM-SHA-256", user.clone()),
                scram_keys::<Sha256>(password.as_bytes(), &salt),
            );
            scram.insert(
                ("SCRAM-SHA-512", user.clone()),
                scram_keys::<Sha512>(password.as_bytes(), &salt),
            );
        }
        Ok(Users {
            passwords: users.iter().cloned().collect(),
            scram,
        })
    }
}

/// The outcome rsasl hands back: the authenticated user, or why not.
struct Verdict;
impl Validation for Verdict {
    type Value = Result<String, String>;
}

impl SessionCallback for Users {
    fn callback(
        &self,
        session: &SessionData,
        context: &Context<'_>,
        request: &mut Request<'_>,
    ) -> Result<(), SessionError> {
        let mechanism = session.mechanism().mechanism.as_str();
        if let Some(user) = context.get_ref::<AuthId>() {
            let key = MECHANISMS.iter().find(|m| **m == mechanism);
            if let Some(stored) = key.and_then(|m| self.scram.get(&(*m, user.to_string()))) {
                request.satisfy::<ScramStoredPassword<'_>>(&ScramStoredPassword::new(
                    SCRAM_ITERATIONS,
                    &stored.salt,
                    &stored.stored_key,
                    &stored.server_key,
                ))?;
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        session: &SessionData,
        context: &Context<'_>,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let mechanism = session.mechanism().mechanism.as_str();
        validate.with::<Verdict, _>(|| {
            let user = context.get_ref::<AuthId>().unwrap_or_default().to_string();
            Ok(if mechanism == "PLAIN" {
                let given = context.get_ref::<Password>().unwrap_or_default();
                match self.passwords.get(&user) {
                    Some(p) if p.as_bytes() == given => Ok(user),
                    _ => Err(user),
                }
            } else {
                // SCRAM reaches validation only once the client's proof matched.
                Ok(user)
            })
        })?;
        Ok(())
    }
}

/// The SASL front: a listener thread and a thread pair per relayed connection.
pub struct SaslFront {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl SaslFront {
    /// Listens on loopback `port`, authenticates clients against `users` (name, password) and
    /// relays them to the broker on loopback `upstream`.
    /// With `session_lifetime`, authentication answers report it (KIP-368) and each connection
    /// is closed when it ends, as a broker closes a connection that did not re-authenticate.
    pub fn start(
        port: u16,
        upstream: u16,
        users: &[(String, String)],
        session_lifetime: Option<std::time::Duration>,
    ) -> io::Result<SaslFront> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let config = SASLConfig::builder()
            .with_defaults()
            .with_callback(Users::new(users)?)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = std::thread::Builder::new()
            .name("sasl-front".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let config = config.clone();
                    let _ = std::thread::Builder::new()
                        .name("sasl-conn".into())
                        .spawn(move || {
                            if let Err(e) = serve(client, upstream, config, session_lifetime) {
                                if e.kind() != io::ErrorKind::UnexpectedEof {
                                    eprintln!("sasl front: {e}");
                                }
                            }
                        });
                }
            })?;
        Ok(SaslFront {
            port,
            stop,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Keeps the front until the process exits.
    pub fn keep_for_process(mut self) {
        self.accept.take();
        std::mem::forget(self);
    }
}

impl Drop for SaslFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(8..=100 * 1024 * 1024).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame size {size}"),
        ));
    }
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame)?;
    Ok(frame)
}

fn write_frame(stream: &mut TcpStream, correlation_id: i32, body: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.extend_from_slice(body);
    stream.write_all(&out)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A request: api key, version, correlation id, and the body after the v1 header.
fn parse_request(frame: &[u8]) -> io::Result<(i16, i16, i32, &[u8])> {
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let id = i32::from_be_bytes(frame[4..8].try_into().expect("8 bytes"));
    let client_len = frame
        .get(8..10)
        .map(|b| i16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| invalid("request header cut short"))?;
    let body_at = 10 + client_len.max(0) as usize;
    let body = frame
        .get(body_at..)
        .ok_or_else(|| invalid("request header cut short"))?;
    Ok((key, version, id, body))
}

/// SaslHandshake v0–v1 and SaslAuthenticate v0–v1 with one client, then a byte relay.
fn serve(
    mut client: TcpStream,
    upstream: u16,
    config: Arc<SASLConfig>,
    session_lifetime: Option<std::time::Duration>,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut broker = TcpStream::connect(("127.0.0.1", upstream))?;
    broker.set_nodelay(true)?;
    let mut session = None;
    loop {
        let frame = read_frame(&mut client)?;
        let (key, version, id, body) = parse_request(&frame)?;
        match (key, version) {
            // ApiVersions: Tansu's answer (it lists SaslHandshake and SaslAuthenticate).
            (18, _) => {
                broker.write_all(&((frame.len()) as i32).to_be_bytes())?;
                broker.write_all(&frame)?;
                let answer = read_frame(&mut broker)?;
                client.write_all(&(answer.len() as i32).to_be_bytes())?;
                client.write_all(&answer)?;
            }
            (17, 0..=1) => {
                let n = body
                    .get(..2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]).max(0) as usize)
                    .ok_or_else(|| invalid("SaslHandshake cut short"))?;
                let wanted = body
                    .get(2..2 + n)
                    .ok_or_else(|| invalid("SaslHandshake cut short"))?;
                let started = Mechname::parse(wanted).ok().and_then(|m| {
                    SASLServer::<Verdict>::new(config.clone())
                        .start_suggested(m)
                        .ok()
                });
                let mut out = Vec::new();
                out.extend_from_slice(&(if started.is_some() { 0i16 } else { 33 }).to_be_bytes());
                out.extend_from_slice(&(MECHANISMS.len() as i32).to_be_bytes());
                for m in MECHANISMS {
                    put_string(&mut out, m);
                }
                write_frame(&mut client, id, &out)?;
                if version == 0 {
                    // v0 carries the tokens as raw frames; neither librdkafka against a broker
                    // that offers v1 nor the proxy uses it.
                    return Err(invalid("SaslHandshake v0 is not served"));
                }
                match started {
                    Some(s) => session = Some(s),
                    None => return Ok(()),
                }
            }
            (36, 0..=1) => {
                let n = body
                    .get(..4)
                    .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")).max(0) as usize)
                    .ok_or_else(|| invalid("SaslAuthenticate cut short"))?;
                let token = body
                    .get(4..4 + n)
                    .ok_or_else(|| invalid("SaslAuthenticate cut short"))?;
                let Some(s) = session.as_mut() else {
                    return Err(invalid("SaslAuthenticate before SaslHandshake"));
                };
                let mut reply = io::Cursor::new(Vec::new());
                let outcome = match s.step(Some(token), &mut reply) {
                    Ok(State::Running) => Ok(false),
                    Ok(State::Finished(_)) => match s.validation() {
                        Some(Ok(_user)) => Ok(true),
                        _ => Err("Authentication failed: Invalid username or password".into()),
                    },
                    Err(e) => Err(format!(
                        "Authentication failed during authentication due to invalid credentials \
                         with SASL mechanism {}: {e}",
                        s.get_mechname()
                    )),
                };
                let mut out = Vec::new();
                match &outcome {
                    Ok(_) => {
                        out.extend_from_slice(&0i16.to_be_bytes());
                        out.extend_from_slice(&(-1i16).to_be_bytes());
                        out.extend_from_slice(&(reply.get_ref().len() as i32).to_be_bytes());
                        out.extend_from_slice(reply.get_ref());
                    }
                    Err(message) => {
                        // SASL_AUTHENTICATION_FAILED
                        out.extend_from_slice(&58i16.to_be_bytes());
                        put_string(&mut out, message);
                        out.extend_from_slice(&0i32.to_be_bytes());
                    }
                }
                if version >= 1 {
                    // 0: the session lasts as long as the connection.
                    let ms = session_lifetime.map_or(0, |d| d.as_millis() as i64);
                    out.extend_from_slice(&ms.to_be_bytes());
                }
                write_frame(&mut client, id, &out)?;
                match outcome {
                    Ok(true) => break,
                    Ok(false) => {}
                    // Kafka closes the connection after a failed authentication.
                    Err(_) => return Ok(()),
                }
            }
            // Anything else before authentication (or a version we do not serve).
            (key, version) => {
                return Err(invalid(&format!(
                    "request {key} v{version} before SASL authentication: closed"
                )))
            }
        }
    }
    if let Some(lifetime) = session_lifetime {
        // The session ends: close the connection (no in-band re-authentication is served).
        let (c, b) = (client.try_clone()?, broker.try_clone()?);
        std::thread::Builder::new()
            .name("sasl-session".into())
            .spawn(move || {
                std::thread::sleep(lifetime);
                let _ = c.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            })?;
    }
    relay(client, broker)
}

/// Copies both directions until either side closes.
fn relay(client: TcpStream, broker: TcpStream) -> io::Result<()> {
    let (mut c_read, mut b_write) = (client.try_clone()?, broker.try_clone()?);
    let upstream = std::thread::Builder::new()
        .name("sasl-relay".into())
        .spawn(move || {
            let _ = io::copy(&mut c_read, &mut b_write);
            let _ = b_write.shutdown(Shutdown::Write);
        })?;
    let (mut b_read, mut c_write) = (broker, client);
    let _ = io::copy(&mut b_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = b_read.shutdown(Shutdown::Both);
    let _ = upstream.join();
    Ok(())
}

/// The user every [`SaslTansu`] accepts, with its password.
pub const TEST_USER: (&str, &str) = ("kafka-proxy", "s3cret-for-tests");

/// Tansu behind the SASL front, and for SASL_SSL behind stunnel as well; all stopped on drop.
pub struct SaslTansu {
    bootstrap: String,
    terminator: Option<crate::tls::Terminator>,
    front: Option<SaslFront>,
    broker: Option<crate::LocalBroker>,
}

impl SaslTansu {
    /// SASL_PLAINTEXT (`tls` false) or SASL_SSL, accepting [`TEST_USER`].
    pub fn start(tls: bool) -> io::Result<SaslTansu> {
        Self::start_with_users(tls, &[])
    }

    /// [`SaslTansu::start`], accepting `users` (name, password) as well.
    pub fn start_with_users(tls: bool, users: &[(&str, &str)]) -> io::Result<SaslTansu> {
        Self::start_with(tls, users, None)
    }

    /// [`SaslTansu::start_with_users`], with sessions that end after `session_lifetime`
    /// (KIP-368): the connection is closed then.
    pub fn start_with(
        tls: bool,
        users: &[(&str, &str)],
        session_lifetime: Option<std::time::Duration>,
    ) -> io::Result<SaslTansu> {
        let plain = crate::free_port()?;
        let front_port = crate::free_port()?;
        let outer = if tls { crate::free_port()? } else { front_port };
        let broker = crate::LocalBroker::start_advertising(plain, outer)?;
        let users: Vec<(String, String)> = std::iter::once(TEST_USER)
            .chain(users.iter().copied())
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        let front = SaslFront::start(front_port, plain, &users, session_lifetime)?;
        let terminator = if tls {
            Some(crate::tls::Terminator::start(outer, front_port)?)
        } else {
            None
        };
        Ok(SaslTansu {
            bootstrap: format!("127.0.0.1:{outer}"),
            terminator,
            front: Some(front),
            broker: Some(broker),
        })
    }

    /// `HOST:PORT` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The CA of the TLS terminator (SASL_SSL only).
    pub fn ca(&self) -> Option<&std::path::Path> {
        self.terminator.as_ref().map(|t| t.ca())
    }

    /// What a librdkafka client needs to reach it: SCRAM-SHA-512 as [`TEST_USER`].
    pub fn client_settings(&self) -> Vec<(String, String)> {
        let mut settings = vec![
            (
                "security.protocol".to_string(),
                if self.terminator.is_some() {
                    "SASL_SSL"
                } else {
                    "SASL_PLAINTEXT"
                }
                .to_string(),
            ),
            ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
            ("sasl.username".into(), TEST_USER.0.into()),
            ("sasl.password".into(), TEST_USER.1.into()),
        ];
        if let Some(ca) = self.ca() {
            settings.push(("ssl.ca.location".into(), ca.display().to_string()));
        }
        settings
    }

    /// Tansu's process id.
    pub fn pid(&self) -> Option<u32> {
        self.broker.as_ref().map(crate::LocalBroker::pid)
    }

    /// Keeps everything until the program exits.
    pub fn keep_for_process(mut self) -> String {
        if let Some(t) = self.terminator.take() {
            t.keep_for_process();
        }
        if let Some(f) = self.front.take() {
            f.keep_for_process();
        }
        if let Some(b) = self.broker.take() {
            b.keep_for_process();
        }
        self.bootstrap.clone()
    }
}

impl Drop for SaslTansu {
    fn drop(&mut self) {
        self.terminator.take();
        self.front.take();
        self.broker.take();
    }
}
