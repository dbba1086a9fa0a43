//! What a run measures against: a broker, a proxy and (for schema workloads) a Schema Registry,
//! either given (real clusters) or started here (Tansu on loopback, and this project's
//! `kafka-proxy` as a child process, serving its built-in registry when one is needed).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use local_broker::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tokio::process::{Child, Command};

use crate::cpu::Processes;
use crate::mosquitto::Mosquitto;
use crate::progress::Progress;
use crate::scenario::Clients;

/// How MQTT reaches the proxy a run starts.
#[derive(Debug, Clone)]
pub enum Mqtt {
    /// Clients publish to the proxy's MQTT listener.
    Listener {
        /// `mqtt.topic.regex.list`.
        rules: String,
        receive_maximum: Option<u16>,
    },
    /// Clients publish into a mosquitto started here; the proxy's MQTT source `loadgen`
    /// subscribes to it.
    Source {
        /// `mqtt.topics`.
        filter: String,
        /// `topic.regex.list`.
        rules: String,
        /// `mqtt.qos` of the subscription.
        qos: u8,
    },
}

/// The name of the MQTT source the proxy started for an `mqtt_source` workload has.
pub const SOURCE: &str = "loadgen";

/// The broker and proxy of a run (and for an `mqtt_source` workload the MQTT broker). Whatever
/// was started here is stopped on drop.
pub struct Targets {
    pub bootstrap: String,
    pub proxy_url: String,
    /// Where MQTT workloads publish, `127.0.0.1:PORT`: the proxy's MQTT listener, or the
    /// mosquitto its MQTT source subscribes to.
    pub mqtt_addr: Option<String>,
    /// The Schema Registry the proxy uses, for native clients of schema formats; None when the
    /// workload needs none.
    pub schema_registry_url: Option<String>,
    /// Set when the proxy runs here, so its memory and CPU can be sampled.
    pub proxy_pid: Option<u32>,
    /// Set when the broker is a process started here, for its CPU time.
    pub broker_pid: Option<u32>,
    /// What the broker is (`tansu 0.6.0`, ...), or `external` for --bootstrap-servers.
    pub broker_kind: String,
    /// `kafka-proxy 0.1.0` for the proxy started here, else `external`.
    pub proxy_version: String,
    /// The scenario's client settings (native clients; the started proxy's `--set`s).
    pub clients: Clients,
    replication_factor: i32,
    /// Topics this run created, for clean-up on clusters that outlive the run.
    created: std::sync::Mutex<Vec<String>>,
    proxy: Option<Child>,
    broker: Option<Broker>,
    mosquitto: Option<Mosquitto>,
    /// The stunnel in front of an HTTPS proxy (`workload.edge_tls`), held until the run ends.
    _edge: Option<local_broker::tls::ClientTunnel>,
}

/// What the workload needs of the proxy: a Schema Registry, MQTT, HTTPS. All but the registry
/// need the proxy loadgen starts.
pub struct Needs {
    /// A schema workload: with no registry URL given, the proxy started here serves its built-in
    /// registry on a free loopback port.
    pub registry: bool,
    pub mqtt: Option<Mqtt>,
    /// `workload.edge_tls`: the proxy serves `https://`, reached through a stunnel client.
    pub edge_tls: bool,
}

impl Targets {
    /// `schema_registry_url` is the registry a given proxy uses, or an external one for the proxy
    /// started here.
    pub async fn start(
        bootstrap: crate::BrokerTarget,
        proxy_url: Option<String>,
        schema_registry_url: Option<String>,
        needs: Needs,
        clients: &Clients,
        replication_factor: i32,
    ) -> anyhow::Result<Targets> {
        let Needs {
            registry: needs_registry,
            mqtt,
            edge_tls,
        } = needs;
        anyhow::ensure!(
            !(mqtt.is_some() && proxy_url.is_some()),
            "an MQTT workload needs the proxy loadgen starts (its topic rules are set per run); drop --proxy-url"
        );
        anyhow::ensure!(
            !(edge_tls && proxy_url.is_some()),
            "workload.edge_tls serves HTTPS from the proxy loadgen starts; drop --proxy-url"
        );
        let schema_registry_url = schema_registry_url.map(|u| u.trim_end_matches('/').to_string());
        anyhow::ensure!(
            !(needs_registry && proxy_url.is_some() && schema_registry_url.is_none()),
            "a schema workload against --proxy-url needs --schema-registry-url (the registry that proxy uses)"
        );
        let (bootstrap, broker) = match bootstrap {
            crate::BrokerTarget::Existing(b) => (b, None),
            crate::BrokerTarget::Start(kind) => {
                let broker = tokio::task::spawn_blocking(move || Broker::start(kind))
                    .await?
                    .map_err(anyhow::Error::msg)?;
                (broker.bootstrap().to_string(), Some(broker))
            }
        };
        // A broker started here may need client settings (TLS): every client gets them.
        let mut clients = clients.clone();
        if let Some(b) = &broker {
            clients.apply_to_all(&b.client_settings().into_iter().collect());
        }
        let clients = &clients;
        wait_for_metadata(&bootstrap, clients).await?;
        let mut mqtt_addr = None;
        let mut mosquitto = None;
        let mut edge = None;
        let (proxy_url, proxy, schema_registry_url) = match proxy_url {
            Some(url) => (
                url.trim_end_matches('/').to_string(),
                None,
                schema_registry_url,
            ),
            None => {
                let registry = match schema_registry_url {
                    Some(url) => Registry::External(url),
                    None if needs_registry => Registry::BuiltIn(format!(
                        "http://127.0.0.1:{}",
                        local_broker::free_port()?
                    )),
                    None => Registry::Off,
                };
                let mqtt = match mqtt {
                    Some(m @ Mqtt::Listener { .. }) => {
                        let addr = format!("127.0.0.1:{}", local_broker::free_port()?);
                        mqtt_addr = Some(addr.clone());
                        Some((addr, m))
                    }
                    Some(m @ Mqtt::Source { .. }) => {
                        let m0 = Mosquitto::start().await?;
                        let addr = m0.addr.clone();
                        mosquitto = Some(m0);
                        mqtt_addr = Some(addr.clone());
                        Some((addr, m))
                    }
                    None => None,
                };
                let (url, child) = if edge_tls {
                    // The proxy serves HTTPS on its own port; clients use the tunnel's.
                    let https = local_broker::free_port()?;
                    let plain = local_broker::free_port()?;
                    let tunnel = tokio::task::spawn_blocking(move || {
                        local_broker::tls::ClientTunnel::start(plain, https)
                    })
                    .await??;
                    let mut settings = clients.proxy.clone();
                    settings.insert(
                        "ssl.keystore.location".into(),
                        tunnel.keystore().display().to_string(),
                    );
                    let listener = Listener {
                        serve: format!("https://127.0.0.1:{https}"),
                        reach: format!("http://127.0.0.1:{}", tunnel.port()),
                    };
                    edge = Some(tunnel);
                    start_proxy(
                        &bootstrap,
                        &registry,
                        mqtt.as_ref(),
                        &settings,
                        Some(listener),
                    )
                    .await?
                } else {
                    start_proxy(&bootstrap, &registry, mqtt.as_ref(), &clients.proxy, None).await?
                };
                (url, Some(child), registry.url())
            }
        };
        let proxy_pid = proxy.as_ref().and_then(Child::id);
        let proxy_version = match &proxy {
            Some(_) => proxy_version().await,
            None => "external".to_string(),
        };
        Ok(Targets {
            bootstrap,
            proxy_url,
            mqtt_addr,
            schema_registry_url,
            proxy_pid,
            broker_pid: broker.as_ref().and_then(Broker::pid),
            broker_kind: broker
                .as_ref()
                .map_or_else(|| "external".to_string(), Broker::describe),
            proxy_version,
            clients: clients.clone(),
            replication_factor,
            created: std::sync::Mutex::new(Vec::new()),
            proxy,
            broker,
            mosquitto,
            _edge: edge,
        })
    }

    /// Resident memory of the local proxy process, in bytes.
    pub fn proxy_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proxy_pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }

    /// A phase's progress, accounting the CPU of this run's local processes.
    pub fn progress(&self) -> std::sync::Arc<Progress> {
        std::sync::Arc::new(Progress::new(Processes::this_run(
            self.proxy_pid,
            self.broker_pid,
        )))
    }

    /// The progress of endpoint `e`'s turn: a ceiling the run started (nginx) is accounted in
    /// the proxy's place, workers included.
    pub fn progress_of(&self, e: &crate::Peer) -> std::sync::Arc<Progress> {
        match e.server_pid {
            Some(server) => {
                std::sync::Arc::new(Progress::new(Processes::ceiling(server, self.broker_pid)))
            }
            None => self.progress(),
        }
    }

    /// Whether the broker was started here (and dies with the run).
    pub fn broker_started_here(&self) -> bool {
        self.broker.is_some()
    }

    /// Creates a topic through the admin API (or the mock broker's pipe: it refuses the API),
    /// with the run's replication factor, and remembers it for [`Targets::delete_created_topics`].
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        self.created
            .lock()
            .expect("poisoned")
            .push(name.to_string());
        if let Some(made) = self
            .broker
            .as_ref()
            .and_then(|b| b.create_topic(name, partitions))
        {
            return made.map_err(anyhow::Error::msg);
        }
        let admin = self.admin()?;
        let topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(self.replication_factor),
        );
        for r in admin.create_topics([&topic], &AdminOptions::new()).await? {
            r.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
        }
        Ok(())
    }

    fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in security_settings(&self.clients) {
            config.set(k, v);
        }
        Ok(config.create()?)
    }

    /// Deletes the topics this run created (runs against a cluster that outlives them) and says
    /// how it went; a failure is reported, not fatal.
    pub async fn delete_created_topics(&self) -> String {
        let topics = self.created.lock().expect("poisoned").clone();
        if topics.is_empty() {
            return "the run created no topics still standing".into();
        }
        match self.delete_topics(&topics).await {
            Ok(0) => format!("deleted the {} topics this run created", topics.len()),
            Ok(failed) => format!(
                "deleting the run's topics: {failed} of {} could not be deleted",
                topics.len()
            ),
            Err(e) => format!("deleting the run's topics: {e}"),
        }
    }

    /// Whether the broker takes DeleteTopics (not the mock cluster this run started).
    pub fn deletes_topics(&self) -> bool {
        self.broker.as_ref().is_none_or(|b| b.deletes_topics())
    }

    /// The most a partition of the broker started here keeps (the mock cluster drops older
    /// records); None when it keeps everything.
    pub fn kept_per_partition_bytes(&self) -> Option<u64> {
        self.broker
            .as_ref()
            .and_then(|b| b.kept_per_partition_bytes())
    }

    /// Deletes `topics` (created by this run) and forgets those deleted: how many could not be.
    pub async fn delete_topics(&self, topics: &[String]) -> anyhow::Result<usize> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results = self.admin()?.delete_topics(&names, &options).await?;
        let deleted: Vec<String> = results.iter().filter_map(|r| r.clone().ok()).collect();
        self.created
            .lock()
            .expect("poisoned")
            .retain(|t| !deleted.contains(t));
        Ok(results.len() - deleted.len())
    }

    /// Stops the local proxy with SIGTERM and waits for it, then the MQTT broker.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.proxy.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
        }
        // The MQTT broker after the proxy, whose source would otherwise log it gone.
        self.mosquitto.take();
    }
}

/// Waits for the cluster's metadata, with the native clients' security settings.
async fn wait_for_metadata(bootstrap: &str, clients: &Clients) -> anyhow::Result<()> {
    let bootstrap = bootstrap.to_string();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    for (k, v) in security_settings(clients) {
        config.set(k, v);
    }
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = config.create()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.fetch_metadata(None, Duration::from_secs(1)).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "no metadata from {bootstrap} within 30 s"
            );
        }
        Ok(())
    })
    .await?
}

/// The `kafka-proxy` binary built beside this one.
fn proxy_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("kafka-proxy");
    anyhow::ensure!(
        path.exists(),
        "{} not found: build it with `cargo build --release -p kafka-proxy` (or pass --proxy-url)",
        path.display()
    );
    Ok(path)
}

/// The Schema Registry of the proxy started here.
enum Registry {
    /// None: binary workloads need none, and port 8081 stays free.
    Off,
    /// The built-in one, listening at this URL (a free loopback port).
    BuiltIn(String),
    /// An external one at this URL.
    External(String),
}

impl Registry {
    fn url(&self) -> Option<String> {
        match self {
            Registry::Off => None,
            Registry::BuiltIn(url) | Registry::External(url) => Some(url.clone()),
        }
    }
}

/// `kafka-proxy --version` of the binary the run starts.
async fn proxy_version() -> String {
    let Ok(binary) = proxy_binary() else {
        return "kafka-proxy (version unknown)".into();
    };
    match Command::new(binary).arg("--version").output().await {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "kafka-proxy (version unknown)".into(),
    }
}

/// A listener the proxy serves and the URL its clients reach it by (another, through a TLS
/// tunnel, for `workload.edge_tls`).
struct Listener {
    serve: String,
    reach: String,
}

/// Starts the proxy on `listener` (default: plain HTTP on a free port); returns the URL its
/// clients use.
async fn start_proxy(
    bootstrap: &str,
    registry: &Registry,
    mqtt: Option<&(String, Mqtt)>,
    settings: &std::collections::BTreeMap<String, String>,
    listener: Option<Listener>,
) -> anyhow::Result<(String, Child)> {
    let Listener { serve, reach: url } = match listener {
        Some(l) => l,
        None => {
            let url = format!("http://127.0.0.1:{}", local_broker::free_port()?);
            Listener {
                serve: url.clone(),
                reach: url,
            }
        }
    };
    let mut command = Command::new(proxy_binary()?);
    command.args(["--bootstrap-servers", bootstrap, "--listeners", &serve]);
    match registry {
        Registry::Off => command.args(["--schema-registry-listeners", ""]),
        Registry::BuiltIn(listener) => command.args(["--schema-registry-listeners", listener]),
        Registry::External(external) => command
            .args(["--schema-registry-listeners", ""])
            .args(["--set", &format!("schema.registry.url={external}")]),
    };
    match mqtt {
        Some((
            addr,
            Mqtt::Listener {
                rules,
                receive_maximum,
            },
        )) => {
            command.args(["--mqtt-listeners", &format!("tcp://{addr}")]);
            command.args(["--mqtt-topic-regex-list", rules]);
            if let Some(n) = receive_maximum {
                command.args(["--set", &format!("mqtt.receive.maximum={n}")]);
            }
        }
        Some((addr, Mqtt::Source { filter, rules, qos })) => {
            // MQTT 5, so the source's Receive Maximum (mqtt.max.inflight) sets its window;
            // [clients.proxy] may override any of these.
            for (key, value) in [
                ("mqtt.server.uri", format!("tcp://{addr}")),
                ("mqtt.topics", filter.clone()),
                ("topic.regex.list", rules.clone()),
                ("mqtt.qos", qos.to_string()),
                ("mqtt.version", "5".to_string()),
            ] {
                command.args(["--set", &format!("mqtt.source.{SOURCE}.{key}={value}")]);
            }
        }
        None => {}
    }
    for (k, v) in settings {
        command.args(["--set", &format!("{k}={v}")]);
    }
    // `LOADGEN_PROXY_RUST_LOG` measures with more logging, e.g. `warn,access=info` for the
    // access log (its lines are formatted and written to /dev/null).
    let log = std::env::var("LOADGEN_PROXY_RUST_LOG").unwrap_or_else(|_| "warn".to_string());
    let child = command
        .env("RUST_LOG", log)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting kafka-proxy")?;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // The proxy answers HTTP only once its MQTT listeners are bound.
    while client.get(format!("{url}/")).send().await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "kafka-proxy did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if matches!(mqtt, Some((_, Mqtt::Source { .. }))) {
        // What is published before the source's subscription exists goes nowhere.
        loop {
            let state = source_state(&client, &url).await;
            if state["subscribed"] == true {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "kafka-proxy's MQTT source did not subscribe within 30 s: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok((url, child))
}

/// The state `GET /ready` gives of the proxy's MQTT source (null when it cannot be read).
async fn source_state(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let ready = match client.get(format!("{url}/ready")).send().await {
        Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    ready["mqtt_sources"][SOURCE].clone()
}

/// The native clients' settings that reach a secured cluster (`security.*`, `sasl.*`, `ssl.*`),
/// for the harness's own admin and metadata clients.
fn security_settings(clients: &Clients) -> impl Iterator<Item = (&String, &String)> {
    clients.native_consumer.iter().filter(|(k, _)| {
        k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.")
    })
}
