//! librdkafka's mock cluster in a process of its own: a Kafka-protocol broker whose fetch path
//! is not the bottleneck on a small machine (Tansu serves one fetch at a time from its storage
//! engine), for measuring consumers. It keeps everything in memory, and at most 5 MiB per
//! partition (older batches are dropped), so a consume measurement spreads its records over
//! enough partitions. It refuses CreateTopics, so topics are created through the owner's pipe.
//!
//! The process is the caller's own executable run with an argument that makes it call
//! [`serve`] (`loadgen mock-broker`): one binary to build and find. It speaks a line protocol
//! on its standard streams: it prints `bootstrap HOST:PORT` once, then answers each
//! `topic NAME PARTITIONS` line with `ok` or `error MESSAGE`; it exits when its input closes.

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Mutex};

use rdkafka::mocking::MockCluster;

/// The most a partition of the mock cluster keeps: librdkafka's mock partition log drops its
/// oldest batches beyond this, so a read-back of a larger produce finds only the newest records.
pub const KEPT_PER_PARTITION_BYTES: u64 = 5 * 1024 * 1024;

/// Runs a one-broker mock cluster until standard input closes. Blocking.
pub fn serve() -> io::Result<()> {
    let cluster = MockCluster::new(1).map_err(io::Error::other)?;
    let mut out = io::stdout().lock();
    writeln!(out, "bootstrap {}", cluster.bootstrap_servers())?;
    out.flush()?;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let reply = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["topic", name, partitions] => match partitions.parse::<i32>() {
                Ok(n) if n >= 1 => match cluster.create_topic(name, n, 1) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error {e}"),
                },
                _ => format!("error bad partition count {partitions:?}"),
            },
            _ => format!("error unknown command {line:?}"),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}

/// A running mock-broker process; killed on drop. Like Tansu's, the process is owned by a thread
/// of its own that lives until it is stopped (`PR_SET_PDEATHSIG` follows the spawning thread).
pub struct MockBroker {
    bootstrap: String,
    pid: u32,
    pipe: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    stop: Option<mpsc::Sender<()>>,
    owner: Option<std::thread::JoinHandle<()>>,
}

impl MockBroker {
    /// Starts `exe ARGS...`, which must call [`serve`], and reads its address. Blocking.
    pub fn start(exe: &Path, args: &[&str]) -> Result<MockBroker, String> {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        crate::die_with_owner_thread(&mut cmd);
        let exe = exe.display().to_string();
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let owner = std::thread::Builder::new()
            .name("mock-broker".into())
            .spawn(move || {
                let mut child: Child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ =
                            started_tx.send(Err(format!("cannot start {exe} mock-broker: {e}")));
                        return;
                    }
                };
                let stdin = child.stdin.take().expect("piped");
                let stdout = child.stdout.take().expect("piped");
                let _ = started_tx.send(Ok((child.id(), stdin, stdout)));
                let _ = stop_rx.recv();
                let _ = child.kill();
                let _ = child.wait();
            })
            .map_err(|e| format!("mock broker thread: {e}"))?;
        let (pid, stdin, stdout) = started_rx
            .recv()
            .map_err(|_| "mock broker thread died".to_string())??;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let mut broker = MockBroker {
            bootstrap: String::new(),
            pid,
            pipe: Mutex::new((stdin, stdout)),
            stop: Some(stop_tx),
            owner: Some(owner),
        };
        read.map_err(|e| format!("mock broker: {e}"))?;
        match line.trim().strip_prefix("bootstrap ") {
            Some(bootstrap) => broker.bootstrap = bootstrap.to_string(),
            None => return Err(format!("mock broker did not start: {line:?}")),
        }
        Ok(broker)
    }

    /// `HOST:PORT` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Creates a topic (replication factor 1). Blocking.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = &mut *pipe;
        writeln!(stdin, "topic {name} {partitions}").map_err(|e| format!("mock broker: {e}"))?;
        stdin.flush().map_err(|e| format!("mock broker: {e}"))?;
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("mock broker: {e}"))?;
        match line.trim() {
            "ok" => Ok(()),
            other => Err(format!("mock broker: creating topic {name}: {other}")),
        }
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}
