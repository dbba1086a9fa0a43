//! What a run measures against: a broker and a proxy, either given (real clusters) or started
//! here (Tansu on loopback, and this project's `kafka-proxy` as a child process).

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

/// The broker and proxy of a run. Whatever was started here is stopped on drop.
pub struct Targets {
    pub bootstrap: String,
    pub proxy_url: String,
    /// Set when the proxy runs here, so its memory can be sampled.
    pub proxy_pid: Option<u32>,
    proxy: Option<Child>,
    _broker: Option<Broker>,
}

impl Targets {
    pub async fn start(
        bootstrap: crate::BrokerTarget,
        proxy_url: Option<String>,
    ) -> anyhow::Result<Targets> {
        let (bootstrap, broker) = match bootstrap {
            crate::BrokerTarget::Existing(b) => (b, None),
            crate::BrokerTarget::Start(kind) => {
                let broker = tokio::task::spawn_blocking(move || Broker::start(kind))
                    .await?
                    .map_err(anyhow::Error::msg)?;
                (broker.bootstrap().to_string(), Some(broker))
            }
        };
        wait_for_metadata(&bootstrap).await?;
        let (proxy_url, proxy) = match proxy_url {
            Some(url) => (url.trim_end_matches('/').to_string(), None),
            None => {
                let (url, child) = start_proxy(&bootstrap).await?;
                (url, Some(child))
            }
        };
        let proxy_pid = proxy.as_ref().and_then(Child::id);
        Ok(Targets {
            bootstrap,
            proxy_url,
            proxy_pid,
            proxy,
            _broker: broker,
        })
    }

    /// Resident memory of the local proxy process, in bytes.
    pub fn proxy_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proxy_pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }

    /// Creates a topic through the admin API.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for r in admin.create_topics([&topic], &AdminOptions::new()).await? {
            r.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
        }
        Ok(())
    }

    /// Stops the local proxy with SIGTERM and waits for it.
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
    }
}

async fn wait_for_metadata(bootstrap: &str) -> anyhow::Result<()> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
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

async fn start_proxy(bootstrap: &str) -> anyhow::Result<(String, Child)> {
    let port = local_broker::free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(proxy_binary()?)
        .args(["--bootstrap-servers", bootstrap, "--listeners", &url])
        // The harness does not use the built-in Schema Registry; keep port 8081 free.
        .args(["--schema-registry-listeners", ""])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting kafka-proxy")?;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{url}/")).send().await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "kafka-proxy did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((url, child))
}
