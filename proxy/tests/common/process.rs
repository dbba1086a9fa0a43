//! The `kafka-proxy` binary as a child process: what crash and exhaustion tests need (an
//! in-process proxy that crashed would take the test binary with it).

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::{free_port, http};

pub const BIN: &str = env!("CARGO_BIN_EXE_kafka-proxy");

/// A running `kafka-proxy` process, killed on drop.
pub struct ProxyProcess {
    pub child: Child,
    pub url: String,
    pub registry_url: Option<String>,
}

impl ProxyProcess {
    /// Starts the binary against `bootstrap` with `--set` pairs; with `registry`, its built-in
    /// Schema Registry listens on a free port. Returns once both answer.
    pub async fn start(bootstrap: &str, registry: bool, settings: &[(&str, &str)]) -> Self {
        let url = format!("http://127.0.0.1:{}", free_port());
        let registry_url = registry.then(|| format!("http://127.0.0.1:{}", free_port()));
        let mut args = vec![
            "--bootstrap-servers".to_string(),
            bootstrap.to_string(),
            "--listeners".into(),
            url.clone(),
            "--schema-registry-listeners".into(),
            registry_url.clone().unwrap_or_default(),
        ];
        for (k, v) in settings {
            args.push("--set".into());
            args.push(format!("{k}={v}"));
        }
        let child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut p = ProxyProcess {
            child,
            url,
            registry_url,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for u in [Some(p.url.clone()), p.registry_url.clone()]
            .into_iter()
            .flatten()
        {
            while http().get(format!("{u}/")).send().await.is_err() {
                assert!(p.alive(), "the proxy exited while starting");
                assert!(Instant::now() < deadline, "the proxy did not start");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        p
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Asserts the process runs and its REST API answers `GET /` (and the registry's, if any).
    pub async fn assert_healthy(&mut self, after: &str) {
        assert!(self.alive(), "the proxy died: {after}");
        for u in [Some(self.url.clone()), self.registry_url.clone()]
            .into_iter()
            .flatten()
        {
            let r = http().get(format!("{u}/")).send().await;
            assert!(
                r.as_ref().is_ok_and(|r| r.status() == 200),
                "{u}/ does not answer 200 {after}: {r:?}"
            );
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `/proc/PID/status` figure in KiB (`VmRSS:`, `VmHWM:`, ...).
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
    }

    /// The peak resident set since [`Self::reset_peak_rss`] (or the start), in KiB: what a burst
    /// really needed, whatever the allocator keeps or gives back afterwards.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Resets the peak resident set to the current one (Linux's `clear_refs` 5).
    pub fn reset_peak_rss(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
    }

    /// Threads of the process.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .count()
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and how long it took.
    pub async fn terminate(mut self, within: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        signal(self.pid(), "TERM");
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit within {within:?} of SIGTERM"))
            .unwrap();
        (status.code(), started.elapsed())
    }
}

/// `kill -SIG pid` (the tests crate allows no unsafe code, so no libc::kill).
pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}
