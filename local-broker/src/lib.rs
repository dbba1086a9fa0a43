//! A throwaway Tansu broker on a free loopback port, for tests and the load harness.
//!
//! The broker process is owned by a dedicated thread that lives until the broker is stopped, and
//! is started with `PR_SET_PDEATHSIG`, so it dies with its owner however the owner ends (panic,
//! `process::exit`, a killed test binary). Tansu keeps everything in memory.

use std::io;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub mod docker;
pub mod mock;
mod owned;
mod port;
pub mod sasl;
pub mod tls;

pub use owned::OwnedProcess;
pub use port::free_port;

/// Which broker a harness run or the tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// Tansu on a free loopback port (the default; no Docker needed).
    Tansu,
    /// Apache Kafka in Docker through testcontainers.
    Docker,
    /// librdkafka's mock cluster in a process of its own ([`mock`]): a broker whose fetch path
    /// keeps up with a consumer on a small machine. Started by a program that can serve it.
    Mock,
    /// Tansu behind a TLS terminator ([`tls`]): every client connection is TLS.
    TansuTls,
    /// Tansu behind a SASL front ([`sasl`]): SASL_PLAINTEXT with SCRAM-SHA-512 (or PLAIN,
    /// SCRAM-SHA-256) as [`sasl::TEST_USER`].
    TansuSasl,
    /// The SASL front behind a TLS terminator: SASL_SSL.
    TansuSaslSsl,
}

impl BrokerKind {
    /// Parses `tansu` or `docker`.
    pub fn parse(name: &str) -> Result<BrokerKind, String> {
        match name {
            "tansu" | "local" => Ok(BrokerKind::Tansu),
            "docker" => Ok(BrokerKind::Docker),
            "mock" => Ok(BrokerKind::Mock),
            "tansu-tls" => Ok(BrokerKind::TansuTls),
            "tansu-sasl" => Ok(BrokerKind::TansuSasl),
            "tansu-sasl-ssl" => Ok(BrokerKind::TansuSaslSsl),
            other => Err(format!(
                "unknown broker {other:?}: expected tansu, tansu-tls, tansu-sasl, \
                 tansu-sasl-ssl, docker or mock"
            )),
        }
    }

    /// `KAFKA_TEST_BROKER` (tansu when unset).
    pub fn from_env() -> Result<BrokerKind, String> {
        match std::env::var("KAFKA_TEST_BROKER") {
            Ok(name) if !name.is_empty() => BrokerKind::parse(&name),
            _ => Ok(BrokerKind::Tansu),
        }
    }
}

/// A running broker of either kind.
pub enum Broker {
    Tansu(LocalBroker),
    TansuTls(tls::TlsTansu),
    TansuSasl(sasl::SaslTansu),
    Docker(Box<docker::DockerKafka>),
    Mock(mock::MockBroker),
}

impl Broker {
    /// Starts a broker of `kind`. Blocking. A mock broker is this executable run with the
    /// argument `mock-broker` (a program that starts one must serve [`mock::serve`] there).
    pub fn start(kind: BrokerKind) -> Result<Broker, String> {
        match kind {
            BrokerKind::Mock => {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?;
                mock::MockBroker::start(&exe, &["mock-broker"]).map(Broker::Mock)
            }
            BrokerKind::Tansu => LocalBroker::start()
                .map(Broker::Tansu)
                .map_err(|e| e.to_string()),
            BrokerKind::Docker => docker::DockerKafka::start().map(|d| Broker::Docker(Box::new(d))),
            BrokerKind::TansuTls => tls::TlsTansu::start()
                .map(Broker::TansuTls)
                .map_err(|e| e.to_string()),
            BrokerKind::TansuSasl | BrokerKind::TansuSaslSsl => {
                sasl::SaslTansu::start(kind == BrokerKind::TansuSaslSsl)
                    .map(Broker::TansuSasl)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The client properties a librdkafka client needs to reach it (none but for TLS and SASL).
    pub fn client_settings(&self) -> Vec<(String, String)> {
        match self {
            Broker::TansuTls(b) => b.client_settings(),
            Broker::TansuSasl(b) => b.client_settings(),
            _ => Vec::new(),
        }
    }

    /// `HOST:PORT` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        match self {
            Broker::Tansu(b) => b.bootstrap(),
            Broker::TansuTls(b) => b.bootstrap(),
            Broker::TansuSasl(b) => b.bootstrap(),
            Broker::Docker(b) => b.bootstrap(),
            Broker::Mock(b) => b.bootstrap(),
        }
    }

    /// The broker's process id, when it is a process on this machine (not in a container).
    pub fn pid(&self) -> Option<u32> {
        match self {
            Broker::Tansu(b) => Some(b.pid()),
            Broker::TansuTls(b) => b.pid(),
            Broker::TansuSasl(b) => b.pid(),
            Broker::Docker(_) => None,
            Broker::Mock(b) => Some(b.pid()),
        }
    }

    /// `tansu 0.6.0`, `apache/kafka (docker)`, `librdkafka mock cluster`: for reports.
    pub fn describe(&self) -> String {
        match self {
            Broker::Tansu(_) => format!("tansu {TANSU_VERSION}"),
            Broker::TansuTls(_) => format!("tansu {TANSU_VERSION} behind stunnel (TLS)"),
            Broker::TansuSasl(b) if b.ca().is_some() => {
                format!("tansu {TANSU_VERSION} behind a SASL front and stunnel (SASL_SSL)")
            }
            Broker::TansuSasl(_) => format!("tansu {TANSU_VERSION} behind a SASL front"),
            Broker::Docker(_) => "apache/kafka (docker, testcontainers)".to_string(),
            Broker::Mock(_) => format!(
                "librdkafka {} mock cluster",
                rdkafka::util::get_rdkafka_version().1
            ),
        }
    }

    /// Creates a topic on a broker that refuses CreateTopics (the mock cluster); None for the
    /// others, which take the admin API. Blocking.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Option<Result<(), String>> {
        match self {
            Broker::Mock(b) => Some(b.create_topic(name, partitions)),
            _ => None,
        }
    }

    /// Whether the broker takes DeleteTopics. The mock cluster does not (it keeps at most 5 MiB
    /// per partition, so its topics need no deleting).
    pub fn deletes_topics(&self) -> bool {
        !matches!(self, Broker::Mock(_))
    }

    /// The most a partition keeps, when the broker drops older records on its own (the mock
    /// cluster); None when it keeps everything written.
    pub fn kept_per_partition_bytes(&self) -> Option<u64> {
        matches!(self, Broker::Mock(_)).then_some(mock::KEPT_PER_PARTITION_BYTES)
    }

    /// Keeps the broker until the process exits.
    pub fn keep_for_process(self) -> String {
        match self {
            Broker::Tansu(b) => b.keep_for_process(),
            Broker::TansuTls(b) => b.keep_for_process(),
            Broker::TansuSasl(b) => b.keep_for_process(),
            Broker::Docker(b) => (*b).keep_for_process(),
            Broker::Mock(b) => {
                let bootstrap = b.bootstrap().to_string();
                std::mem::forget(b);
                bootstrap
            }
        }
    }
}

/// The Tansu version the project is tested with (see `scripts/install-deps.sh`).
pub const TANSU_VERSION: &str = "0.6.0";

/// A running local broker; stopped on drop.
pub struct LocalBroker {
    bootstrap: String,
    process: OwnedProcess,
}

impl LocalBroker {
    /// Starts Tansu on a free loopback port and waits until it accepts connections.
    pub fn start() -> io::Result<LocalBroker> {
        Self::start_on_port(free_port()?)
    }

    /// Starts Tansu on a given loopback port: a restart of a broker that was stopped, as its
    /// clients see it (Tansu keeps everything in memory, so it comes back empty).
    pub fn start_on_port(port: u16) -> io::Result<LocalBroker> {
        Self::start_advertising(port, port)
    }

    /// Starts Tansu on loopback `port`, telling clients in metadata to connect to `advertised`
    /// instead: a TLS terminator (or another front) listening there and forwarding to `port`.
    pub fn start_advertising(port: u16, advertised: u16) -> io::Result<LocalBroker> {
        let binary = tansu_binary();
        let mut cmd = Command::new(&binary);
        cmd.args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{advertised}"),
        ]);
        let process = OwnedProcess::spawn(cmd, "local-broker").map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start {}: {e} (run scripts/install-deps.sh)",
                    binary.display()
                ),
            )
        })?;
        let broker = LocalBroker {
            bootstrap: format!("127.0.0.1:{port}"),
            process,
        };
        wait_for_port(port, "local broker")?;
        Ok(broker)
    }

    /// `HOST:PORT` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.bootstrap
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("bootstrap is 127.0.0.1:PORT")
    }

    /// The broker's process id (fault-injection tests pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Keeps the broker running until the process exits (for shared test fixtures).
    pub fn keep_for_process(self) -> String {
        let bootstrap = self.bootstrap.clone();
        self.process.keep_for_process();
        bootstrap
    }
}

/// Waits until something accepts connections on loopback `port`, for at most 30 s.
pub(crate) fn wait_for_port(port: u16, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} did not listen within 30 s"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The Tansu binary: `$TANSU_BIN`, else `~/.cargo/bin/tansu`, else `tansu` on the PATH.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return path.into();
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cargo_bin = PathBuf::from(home).join(".cargo/bin/tansu");
        if cargo_bin.exists() {
            return cargo_bin;
        }
    }
    PathBuf::from("tansu")
}

#[allow(unsafe_code)]
pub(crate) fn die_with_owner_thread(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe and touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
