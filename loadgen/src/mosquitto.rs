//! The MQTT broker of the `mqtt_source` workload: Debian's mosquitto (installed by
//! `scripts/install-deps.sh`) on a free loopback port, which the run's MQTT clients publish
//! into and the proxy's MQTT source subscribes to.
//!
//! Configured so that it loses nothing the source is meant to get: the publishers outrun any
//! single subscriber, and mosquitto's default queue (1,000 messages per client above those in
//! flight) would drop the rest, so the queue is unbounded; 1,000 messages in flight per
//! subscriber (MQTT 3.1.1's window; an MQTT 5 subscriber sets its own as its Receive Maximum).
//! No persistence: a run's broker lives as long as the run.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use tokio::process::{Child, Command};

/// A running mosquitto; stopped on drop.
pub struct Mosquitto {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
    dir: PathBuf,
}

/// Debian's mosquitto binary.
fn binary() -> anyhow::Result<PathBuf> {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    anyhow::bail!("mosquitto not found: run scripts/install-deps.sh (Debian's mosquitto package)")
}

/// The configuration (see the module's documentation).
pub fn config(dir: &std::path::Path, port: u16) -> String {
    format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
         max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n\
         log_dest file {}\nlog_type error\nlog_type warning\n",
        dir.join("mosquitto.log").display()
    )
}

impl Mosquitto {
    pub async fn start() -> anyhow::Result<Mosquitto> {
        let port = local_broker::free_port()?;
        let dir =
            std::env::temp_dir().join(format!("loadgen-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("mosquitto.conf"), config(&dir, port))?;
        let child = Command::new(binary()?)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting mosquitto")?;
        let mosquitto = Mosquitto {
            addr: format!("127.0.0.1:{port}"),
            child,
            dir,
        };
        crate::ceiling::listening(port, "mosquitto", &mosquitto.dir.join("mosquitto.log")).await?;
        Ok(mosquitto)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_listens_on_loopback_and_queues_without_bound() {
        let c = config(std::path::Path::new("/tmp/x"), 18830);
        assert!(c.starts_with("listener 18830 127.0.0.1\n"));
        assert!(c.contains("max_queued_messages 0\n"));
        assert!(c.contains("persistence false\n"));
    }
}
