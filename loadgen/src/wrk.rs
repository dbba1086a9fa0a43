//! The cross-check of the REST driver: Debian's `wrk` (installed by `scripts/install-deps.sh`)
//! sending the same produce request to the same proxy with the same number of connections. If
//! the harness's driver reaches much less than `wrk`, it is measuring itself, not the proxy.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What `wrk` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_s: f64,
    /// Answers other than 2xx/3xx, and socket errors.
    pub errors: u64,
}

/// The Lua script that makes wrk POST `body` with `content_type`.
pub fn script(body: &str, content_type: &str) -> String {
    // A long bracket string holds any JSON verbatim.
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"{content_type}\"\nwrk.body = [==[{body}]==]\n"
    )
}

/// Parses wrk's report.
pub fn parse(out: &str) -> anyhow::Result<WrkResult> {
    let mut result = WrkResult {
        requests: 0,
        requests_per_s: 0.0,
        errors: 0,
    };
    let mut found = (false, false);
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            result.requests_per_s = v.trim().parse()?;
            found.0 = true;
        } else if line.contains(" requests in ") {
            result.requests = line.split_whitespace().next().unwrap_or("").parse()?;
            found.1 = true;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            result.errors += v.trim().parse::<u64>()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            result.errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    anyhow::ensure!(found.0 && found.1, "unexpected wrk output:\n{out}");
    Ok(result)
}

/// `wrk` set up to send one request: its Lua script, written once and removed on drop.
pub struct Wrk {
    script: std::path::PathBuf,
}

impl Wrk {
    /// `wrk` POSTing `body` with `content_type`.
    pub fn new(body: &str, content_type: &str) -> anyhow::Result<Wrk> {
        let script = std::env::temp_dir().join(format!("loadgen-wrk-{}.lua", std::process::id()));
        std::fs::write(&script, self::script(body, content_type))?;
        Ok(Wrk { script })
    }

    /// Runs `wrk -t1 -cN -dS` against `url` (a produce URL).
    pub async fn run(
        &self,
        url: &str,
        connections: usize,
        duration: Duration,
    ) -> anyhow::Result<WrkResult> {
        let out = tokio::process::Command::new("wrk")
            .arg("-t1")
            .arg(format!("-c{connections}"))
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .arg("-s")
            .arg(&self.script)
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .context("running wrk (install it with scripts/install-deps.sh)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&text)
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.script);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_parse() {
        let out = "Running 5s test @ http://127.0.0.1:8082/topics/t\n  1 threads and 32 connections\n\
                   \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
                   \x20   Latency     1.45ms  300.00us   9.00ms   90.00%\n\
                   \x20 110060 requests in 5.00s, 20.15MB read\n\
                   \x20 Socket errors: connect 0, read 2, write 0, timeout 1\n\
                   \x20 Non-2xx or 3xx responses: 4\nRequests/sec:  22012.34\nTransfer/sec:      4.03MB\n";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 110060);
        assert!((r.requests_per_s - 22012.34).abs() < 1e-9);
        assert_eq!(r.errors, 7);
        assert!(parse("garbage").is_err());
    }

    #[test]
    fn scripts_carry_the_body_verbatim() {
        let s = script(r#"{"records":[{"value":"AAAA"}]}"#, "application/x");
        assert!(s.contains(r#"wrk.body = [==[{"records":[{"value":"AAAA"}]}]==]"#));
        assert!(s.contains("wrk.method = \"POST\""));
    }
}
