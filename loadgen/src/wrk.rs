//! The cross-check of the REST driver: Debian's `wrk` (installed by `scripts/install-deps.sh`)
//! sending the same produce request to the same proxy with the same number of connections. If
//! the harness's driver reaches much less than `wrk`, it is measuring itself, not the proxy.
//! HTTP/2 workloads (`workload.http2`) are checked against nghttp2's `h2load` instead, with the
//! driver's connections and streams.

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

/// Parses `h2load`'s report: its rate, the requests done, and those that failed (non-2xx/3xx
/// answers, errors and timeouts).
pub fn parse_h2load(out: &str) -> anyhow::Result<WrkResult> {
    let (mut rate, mut done, mut failed) = (None, None, None);
    for line in out.lines().map(str::trim) {
        if line.starts_with("finished in ") {
            // "finished in 8.00s, 37840.50 req/s, 5.26MB/s"
            rate = line
                .split(", ")
                .nth(1)
                .and_then(|r| r.strip_suffix(" req/s")?.parse().ok());
        } else if line.starts_with("requests: ") {
            // "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
            let field = |name: &str| -> Option<f64> {
                let part = line.split(", ").find(|part| part.ends_with(name))?;
                let part = part.trim_start_matches("requests: ");
                part.split_whitespace().next()?.parse().ok()
            };
            done = field(" done");
            failed = field(" failed");
        }
    }
    match (rate, done, failed) {
        (Some(rate), Some(done), Some(failed)) => Ok(WrkResult {
            requests: done as u64,
            requests_per_s: rate,
            errors: failed as u64,
        }),
        _ => anyhow::bail!("unexpected h2load output:\n{out}"),
    }
}

/// The cross-check's tool set up to send one request: `wrk`'s Lua script, or the body file and
/// stream shape of `h2load`; written once and removed on drop.
pub struct Wrk {
    file: std::path::PathBuf,
    content_type: String,
    /// `h2load` over this many HTTP/2 connections (`workload.http2_connections`).
    http2_connections: Option<usize>,
}

impl Wrk {
    /// `wrk` POSTing `body` with `content_type`; with `http2_connections`, `h2load`.
    pub fn new(
        body: &str,
        content_type: &str,
        http2_connections: Option<usize>,
    ) -> anyhow::Result<Wrk> {
        let (name, text) = match http2_connections {
            None => ("lua", self::script(body, content_type)),
            Some(_) => ("json", body.to_string()),
        };
        let file = std::env::temp_dir().join(format!("loadgen-wrk-{}.{name}", std::process::id()));
        std::fs::write(&file, text)?;
        Ok(Wrk {
            file,
            content_type: content_type.into(),
            http2_connections,
        })
    }

    /// The tool, as the summary names it (see [`tool`]).
    pub fn tool(&self, clients: usize) -> String {
        tool(self.http2_connections, clients)
    }

    /// Runs `wrk -t1 -cN -dS`, or `h2load` with the driver's connections and streams, against
    /// `url` (a produce URL) for `clients` clients.
    pub async fn run(
        &self,
        url: &str,
        clients: usize,
        duration: Duration,
    ) -> anyhow::Result<WrkResult> {
        let secs = duration.as_secs().max(1);
        let (mut cmd, tool, parse): (_, _, fn(&str) -> anyhow::Result<WrkResult>) =
            match self.http2_connections {
                None => {
                    let mut cmd = tokio::process::Command::new("wrk");
                    cmd.arg("-t1")
                        .arg(format!("-c{clients}"))
                        .arg(format!("-d{secs}s"))
                        .arg("-s")
                        .arg(&self.file);
                    (cmd, "wrk", parse)
                }
                Some(c) => {
                    let mut cmd = tokio::process::Command::new("h2load");
                    cmd.arg("-t1")
                        .arg(format!("-c{c}"))
                        .arg(format!("-m{}", streams(clients, c)))
                        .arg("-D")
                        .arg(secs.to_string())
                        .arg("-d")
                        .arg(&self.file)
                        .arg("-H")
                        .arg(format!("Content-Type: {}", self.content_type));
                    (cmd, "h2load", parse_h2load)
                }
            };
        let out = cmd
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("running {tool} (install it with scripts/install-deps.sh)"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "{tool} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&text)
    }
}

/// The cross-check's tool for `clients` clients, as the summary names it: `wrk -t1`, or with
/// HTTP/2 connections `h2load -t1 -cC -mM`.
pub fn tool(http2_connections: Option<usize>, clients: usize) -> String {
    match http2_connections {
        None => "wrk -t1".into(),
        Some(c) => format!("h2load -t1 -c{c} -m{}", streams(clients, c)),
    }
}

/// Streams per connection that carry `clients` clients on `connections` connections.
fn streams(clients: usize, connections: usize) -> usize {
    clients.div_ceil(connections.max(1))
}

impl Drop for Wrk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
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
    fn h2load_reports_parse() {
        let out = "starting benchmark...\nspawning thread #0: 4 total client(s). 80000 total requests\n\
                   finished in 8.00s, 37840.50 req/s, 5.26MB/s\n\
                   requests: 302724 total, 302756 started, 302724 done, 302720 succeeded, 4 failed, 1 errored, 0 timeout\n\
                   status codes: 302720 2xx, 0 3xx, 4 4xx, 0 5xx\n";
        let r = parse_h2load(out).unwrap();
        assert_eq!(r.requests, 302724);
        assert!((r.requests_per_s - 37840.50).abs() < 1e-9);
        assert_eq!(r.errors, 4);
        assert!(parse_h2load("garbage").is_err());
        assert_eq!(streams(32, 4), 8);
        assert_eq!(streams(30, 4), 8);
    }

    #[test]
    fn scripts_carry_the_body_verbatim() {
        let s = script(r#"{"records":[{"value":"AAAA"}]}"#, "application/x");
        assert!(s.contains(r#"wrk.body = [==[{"records":[{"value":"AAAA"}]}]==]"#));
        assert!(s.contains("wrk.method = \"POST\""));
    }
}
