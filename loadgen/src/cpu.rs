//! CPU time per process, from `/proc/<pid>/stat` (user + system, every thread, the exited ones
//! included): what each process of a phase (the proxy, the broker, this harness as the client)
//! spent, turned into µs per record. Unlike throughput it does not depend on who else shares the
//! machine, so it is the steady answer to "what does the proxy cost".

use serde::{Deserialize, Serialize};

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`sysconf(_SC_CLK_TCK)`).
fn ticks_per_second() -> f64 {
    #[allow(unsafe_code)]
    // SAFETY: sysconf reads a constant of the running system; no memory is shared.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds a process has used so far, or None when it is gone or not ours.
pub fn process_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|ticks| ticks as f64 / ticks_per_second())
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks. The command
/// name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// User + system CPU seconds of a process and its child processes (nginx serves from worker
/// processes its master forked), or None when the process is gone or not ours. A child that
/// exits meanwhile takes its time with it: nginx's workers live as long as their master.
pub fn tree_seconds(pid: u32) -> Option<f64> {
    let own = process_seconds(pid)?;
    Some(
        own + children(pid)
            .into_iter()
            .filter_map(process_seconds)
            .sum::<f64>(),
    )
}

/// The child processes of `pid`: from its threads' `children` lists, or where the kernel has
/// none (`CONFIG_PROC_CHILDREN` off), by the parent field of every process's stat.
fn children(pid: u32) -> Vec<u32> {
    let listed: Option<Vec<u32>> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|tasks| {
            let mut out = Vec::new();
            for task in tasks.flatten() {
                let text = std::fs::read_to_string(task.path().join("children")).ok()?;
                out.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
            Some(out)
        });
    listed.unwrap_or_else(|| {
        let Ok(all) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        all.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|stat| parent_of(&stat))
                    == Some(pid)
            })
            .collect()
    })
}

/// The parent pid (field 4) of a `/proc/<pid>/stat` line.
fn parent_of(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The processes whose CPU a phase accounts: each one optional (a proxy or broker given by
/// address runs elsewhere and is not measured).
#[derive(Debug, Clone, Copy, Default)]
pub struct Processes {
    /// The server driven: the proxy, or in a ceiling's turn the ceiling (nginx).
    pub proxy: Option<u32>,
    /// Count the server's child processes too (nginx's workers).
    pub proxy_children: bool,
    pub broker: Option<u32>,
    /// The driver's client: this process.
    pub client: u32,
}

/// CPU seconds of each process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    proxy: Option<f64>,
    broker: Option<f64>,
    client: Option<f64>,
}

impl Processes {
    pub fn this_run(proxy: Option<u32>, broker: Option<u32>) -> Processes {
        Processes {
            proxy,
            proxy_children: false,
            broker,
            client: std::process::id(),
        }
    }

    /// A ceiling's turn: the server the run started in the proxy's place (nginx: its master
    /// and workers), so that its CPU per request sits beside the proxy's.
    pub fn ceiling(server: u32, broker: Option<u32>) -> Processes {
        Processes {
            proxy: Some(server),
            proxy_children: true,
            ..Processes::this_run(None, broker)
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let server = match self.proxy_children {
            true => tree_seconds,
            false => process_seconds,
        };
        Snapshot {
            proxy: self.proxy.and_then(server),
            broker: self.broker.and_then(process_seconds),
            client: process_seconds(self.client),
        }
    }
}

impl Snapshot {
    /// CPU used between `self` (earlier) and `later`, for `records` records.
    pub fn until(&self, later: &Snapshot, records: u64) -> Cpu {
        let diff = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
        Cpu {
            records,
            proxy_s: diff(self.proxy, later.proxy),
            broker_s: diff(self.broker, later.broker),
            client_s: diff(self.client, later.client),
        }
    }
}

/// CPU seconds each process used during a phase's measured window, and the records it moved.
/// `client` is this harness process: the driver's client (HTTP, MQTT or rdkafka) plus the
/// harness's sampling (every 20 ms) and, in open-loop runs, its end-to-end reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    pub records: u64,
    pub proxy_s: Option<f64>,
    pub broker_s: Option<f64>,
    pub client_s: Option<f64>,
}

impl Cpu {
    fn per_record(&self, s: Option<f64>) -> Option<f64> {
        (self.records > 0).then_some(())?;
        Some(s? * 1e6 / self.records as f64)
    }

    /// Proxy CPU µs per record.
    pub fn proxy_us(&self) -> Option<f64> {
        self.per_record(self.proxy_s)
    }

    pub fn broker_us(&self) -> Option<f64> {
        self.per_record(self.broker_s)
    }

    pub fn client_us(&self) -> Option<f64> {
        self.per_record(self.client_s)
    }

    /// Sums phases (rounds): seconds and records add up, so per-record figures are weighted.
    pub fn add(&mut self, other: &Cpu) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.records += other.records;
        self.proxy_s = sum(self.proxy_s, other.proxy_s);
        self.broker_s = sum(self.broker_s, other.broker_s);
        self.client_s = sum(self.client_s, other.client_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_command_name_end() {
        // A command name with spaces and parentheses; utime 1234, stime 56.
        let line = "42 (my (odd) proc) S 1 42 42 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0 \
                    100 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(1290));
        assert_eq!(parse_stat("42 (x) S 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_uses_cpu_and_a_busy_loop_is_counted() {
        let me = std::process::id();
        let before = Processes::this_run(None, None).snapshot();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Burn about 200 ms of CPU: at 100 ticks per second that is about 20 ticks.
        while start.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = Processes::this_run(None, None).snapshot();
        let cpu = before.until(&after, 1000);
        let used = cpu.client_s.expect("this process is readable");
        assert!(
            (0.1..2.0).contains(&used),
            "{used} s for a 200 ms busy loop"
        );
        assert!(cpu.client_us().unwrap() > 100.0);
        assert_eq!(cpu.proxy_s, None, "no proxy pid: not measured");
        assert!(process_seconds(me).is_some());
        assert_eq!(process_seconds(u32::MAX), None);
    }

    #[test]
    fn a_ceilings_worker_processes_are_counted() {
        // A shell that only waits, with a child burning CPU: nginx's master and a worker.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done & wait"])
            .spawn()
            .unwrap();
        let pid = shell.id();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let busy = children(pid);
        assert_eq!(busy.len(), 1, "{busy:?}");
        let before = Processes::ceiling(pid, None).snapshot();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let after = Processes::ceiling(pid, None).snapshot();
        let alone = process_seconds(pid).unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-9", &busy[0].to_string()])
            .status();
        let _ = shell.kill();
        let _ = shell.wait();
        let used = before.until(&after, 1).proxy_s.unwrap();
        assert!(used >= 0.1, "{used} s in 500 ms of a busy child");
        assert!(alone < 0.05, "the waiting shell itself used {alone} s");
        let line = "42 (a (b) c) S 7 42 42 0 -1";
        assert_eq!(parent_of(line), Some(7));
    }

    #[test]
    fn rounds_add_up_weighted_and_unmeasured_stays_unmeasured() {
        let mut a = Cpu {
            records: 100,
            proxy_s: Some(0.001),
            broker_s: None,
            client_s: Some(0.002),
        };
        a.add(&Cpu {
            records: 300,
            proxy_s: Some(0.001),
            broker_s: Some(1.0),
            client_s: Some(0.002),
        });
        assert_eq!(a.records, 400);
        assert!((a.proxy_us().unwrap() - 5.0).abs() < 1e-9);
        assert!((a.client_us().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(a.broker_us(), None);
        assert_eq!(Cpu::default().proxy_us(), None);
    }
}
