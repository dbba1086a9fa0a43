//! The HTTP ceiling: nginx (Debian's, installed by `scripts/install-deps.sh`) on a free loopback
//! port answering every request with a fixed produce reply, driven by the same REST driver with
//! the same workload in the same run. What the proxy reaches as a fraction of it is what its
//! HTTP handling and Kafka work cost, on this machine, against a server that does nothing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

/// A fixed produce answer for one record, shaped like the proxy's.
pub const ANSWER: &str = r#"{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}"#;

/// A running nginx; stopped on drop.
pub struct Nginx {
    pub url: String,
    child: Child,
    dir: PathBuf,
}

/// Debian's nginx binary.
fn binary() -> anyhow::Result<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    anyhow::bail!("nginx not found: run scripts/install-deps.sh (Debian's nginx package)")
}

/// The configuration: one worker per core, no logs, keep-alive without a request limit; with
/// `http2`, the port speaks h2c by prior knowledge (`workload.http2`) instead of HTTP/1.1.
pub fn config(dir: &std::path::Path, port: u16, http2: bool) -> String {
    let d = dir.display();
    let protocol = if http2 { " http2" } else { "" };
    format!(
        "daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 keepalive_requests 100000000;\n  keepalive_timeout 300s;\n\
         \x20 server {{\n    listen 127.0.0.1:{port}{protocol};\n    location / {{\n\
         \x20     default_type application/vnd.kafka.v2+json;\n      return 200 '{ANSWER}';\n    }}\n  }}\n}}\n"
    )
}

impl Nginx {
    pub async fn start(http2: bool) -> anyhow::Result<Nginx> {
        let port = local_broker::free_port()?;
        let dir = std::env::temp_dir().join(format!("loadgen-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("nginx.conf"), config(&dir, port, http2))?;
        let child = Command::new(binary()?)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let nginx = Nginx {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        listening(port, "nginx", &nginx.dir.join("error.log")).await?;
        Ok(nginx)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Waits up to 10 s for a server started here (`what`) to listen on loopback `port`; the error
/// quotes its log.
pub async fn listening(port: u16, what: &str, log: &std::path::Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not listen within 10 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on SIGTERM (SIGKILL would leave them running); wait for
        // it, then kill it if it hangs.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_answers_a_fixed_produce_reply_on_loopback_only() {
        let c = config(std::path::Path::new("/tmp/x"), 8099, false);
        assert!(c.contains("listen 127.0.0.1:8099;"));
        let h2c = config(std::path::Path::new("/tmp/x"), 8099, true);
        assert!(h2c.contains("listen 127.0.0.1:8099 http2;"));
        assert!(c.contains(&format!("return 200 '{ANSWER}';")));
        assert!(!ANSWER.contains('\''), "the answer is quoted with '");
        let v: serde_json::Value = serde_json::from_str(ANSWER).unwrap();
        assert!(v["offsets"][0]["error_code"].is_null());
    }
}
