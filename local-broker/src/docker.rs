//! Real Apache Kafka (KRaft, `apache/kafka`) in Docker through testcontainers, for machines with
//! a Docker engine: `loadgen run --broker docker`, and the tests with `KAFKA_TEST_BROKER=docker`.
//!
//! Without an engine, starting fails with a message saying so; nothing falls back silently.

use std::sync::Mutex;

use testcontainers::runners::SyncRunner;
use testcontainers::Container;
use testcontainers_modules::kafka::apache;

/// A running Kafka container; removed on drop.
pub struct DockerKafka {
    container: Option<Container<apache::Kafka>>,
    bootstrap: String,
}

impl DockerKafka {
    /// Starts `apache/kafka` and waits until it is ready. Blocking; callable from anywhere,
    /// an async runtime's threads included (the blocking client runs on its own thread).
    pub fn start() -> Result<DockerKafka, String> {
        std::thread::spawn(Self::start_here)
            .join()
            .map_err(|_| "the Docker start thread panicked".to_string())?
    }

    fn start_here() -> Result<DockerKafka, String> {
        let container = apache::Kafka::default().start().map_err(|e| {
            format!(
                "a Docker broker needs a running Docker engine; testcontainers could not start \
                 apache/kafka: {e}"
            )
        })?;
        let port = container
            .get_host_port_ipv4(apache::KAFKA_PORT)
            .map_err(|e| format!("apache/kafka container has no mapped port: {e}"))?;
        Ok(DockerKafka {
            container: Some(container),
            bootstrap: format!("127.0.0.1:{port}"),
        })
    }

    /// `HOST:PORT` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Keeps the container until the process exits, then removes it (shared test fixtures,
    /// whose statics are never dropped).
    pub fn keep_for_process(mut self) -> String {
        let bootstrap = std::mem::take(&mut self.bootstrap);
        if let Some(container) = self.container.take() {
            REAP.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(container.id().to_string());
            register_reaper();
            std::mem::forget(container);
        }
        bootstrap
    }
}

impl Drop for DockerKafka {
    fn drop(&mut self) {
        // Removing the container blocks on testcontainers' own runtime: not on an async thread.
        if let Some(container) = self.container.take() {
            let _ = std::thread::spawn(move || drop(container)).join();
        }
    }
}

/// Containers to remove at process exit.
static REAP: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn reap() {
    let ids = std::mem::take(&mut *REAP.lock().unwrap_or_else(|e| e.into_inner()));
    if !ids.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f"])
            .args(&ids)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[allow(unsafe_code)]
fn register_reaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `reap` is an `extern "C" fn()` that does not unwind (every error is ignored),
        // which is all `atexit` requires.
        unsafe {
            libc::atexit(reap);
        }
    });
}
