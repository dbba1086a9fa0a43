//! The log writer: formatted lines appended to one buffer, written out by a thread of their own
//! every [`FLUSH_EVERY`], or sooner once [`FLUSH_AT`] bytes wait: one `write` for many lines.
//! The access log is on by default, as Confluent's request log is, and it writes a line per
//! request. Written by the request's worker, one `write` per line (the `fmt` subscriber's
//! default) held the worker in a system call for every request. This is hand-written because
//! tracing-appender's writer thread spins and yields on its channel while waiting for lines: on
//! two cores, 12–17% of the proxy's CPU under a single-record load (docs/performance-log.md, "Logs
//! off the request path").
//!
//! No line is dropped, and lines keep their order: when [`LIMIT`] bytes wait (the writer is
//! stuck on a slow pipe), the logger writes them out itself. Dropping the [`Guard`] writes
//! out the rest.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait for the writer thread.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer thread before its time.
pub const FLUSH_AT: usize = 64 * 1024;
/// Bytes waiting beyond which a logger writes them out itself.
pub const LIMIT: usize = 4 << 20;

struct Shared<W> {
    /// Lines not written yet.
    waiting: Mutex<Pending>,
    wake: Condvar,
    /// The output; whoever writes holds it from taking the lines until they are written, so
    /// lines go out in the order they were appended.
    out: Mutex<W>,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    stop: bool,
}

impl<W: Write> Shared<W> {
    /// The writer thread: writes out what waits every [`FLUSH_EVERY`], or when woken, until
    /// stopped.
    fn run(&self) {
        let mut spare = Vec::new();
        loop {
            let stop = {
                let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                let (waiting, _) = self
                    .wake
                    .wait_timeout_while(waiting, FLUSH_EVERY, |w| {
                        w.lines.len() < FLUSH_AT && !w.stop
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                waiting.stop
            };
            self.write_out(&mut spare);
            if stop {
                return;
            }
        }
    }

    /// Writes out every line waiting now.
    fn write_out(&self, spare: &mut Vec<u8>) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut waiting.lines, spare);
        }
        if !spare.is_empty() {
            // A log that cannot be written has nowhere to report it.
            let _ = out.write_all(spare).and_then(|()| out.flush());
            spare.clear();
        }
    }
}

/// The `MakeWriter` of the subscriber: appends each formatted line to the shared buffer.
pub struct Batched<W>(Arc<Shared<W>>);

impl<W> Clone for Batched<W> {
    fn clone(&self) -> Self {
        Batched(self.0.clone())
    }
}

impl<W: Write + Send + 'static> Batched<W> {
    /// The writer, and the guard of its thread.
    pub fn start(out: W) -> (Batched<W>, Guard<W>) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            out: Mutex::new(out),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("kafka-proxy-logs".into())
                .spawn(move || shared.run())
                .expect("spawning the log writer")
        };
        (
            Batched(shared.clone()),
            Guard {
                shared,
                thread: Some(thread),
            },
        )
    }
}

impl<W: Write> Write for &Batched<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = &self.0;
        let size = {
            let mut waiting = shared
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiting.lines.extend_from_slice(line);
            waiting.lines.len()
        };
        // Woken once when the buffer crosses the mark, not for every line after it.
        if size >= FLUSH_AT && size - line.len() < FLUSH_AT {
            shared.wake.notify_one();
        }
        if size >= LIMIT {
            shared.write_out(&mut Vec::new());
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched<W> {
    type Writer = &'a Batched<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Stops the writer thread once it has written every line.
pub struct Guard<W> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W> Drop for Guard<W> {
    fn drop(&mut self) {
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink the test can read while the writer owns it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>, Arc<Mutex<usize>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            *self.1.lock().unwrap() += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_in_order_and_in_few_writes() {
        let sink = Sink::default();
        let (writer, guard) = Batched::start(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        (&writer)
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let (t, i): (usize, usize) = (words[1].parse().unwrap(), words[3].parse().unwrap());
            assert_eq!(i, next[t], "{line}");
            next[t] += 1;
        }
        assert_eq!(
            next, [20_000; 4],
            "every line written once, at the guard's drop at last"
        );
        let writes = *sink.1.lock().unwrap();
        assert!(writes < 80_000 / 100, "{writes} writes for 80,000 lines");
    }

    #[test]
    fn a_line_goes_out_within_the_flush_interval() {
        let sink = Sink::default();
        let (writer, _guard) = Batched::start(sink.clone());
        let start = Instant::now();
        (&writer).write_all(b"one line\n").unwrap();
        while sink.0.lock().unwrap().is_empty() {
            assert!(start.elapsed() < FLUSH_EVERY * 20, "never written");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(&sink.0.lock().unwrap()[..], b"one line\n");
    }

    #[test]
    fn a_stuck_writer_makes_loggers_write_themselves_without_losing_a_line() {
        let sink = Sink::default();
        let (writer, guard) = Batched::start(sink.clone());
        // The writer thread cannot write while the test holds the output.
        let held = writer.0.out.lock().unwrap();
        let line = [b'x'; 1023]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<u8>>();
        let logger = {
            let writer = writer.clone();
            let line = line.clone();
            std::thread::spawn(move || {
                for _ in 0..(LIMIT / line.len() + 10) {
                    (&writer).write_all(&line).unwrap();
                }
            })
        };
        // The logger reaches the limit and waits for the output, rather than growing on.
        let start = Instant::now();
        while writer.0.waiting.lock().unwrap().lines.len() < LIMIT {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never reached the limit"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(!logger.is_finished(), "the logger went on past the limit");
        drop(held);
        logger.join().unwrap();
        drop(guard);
        assert_eq!(
            sink.0.lock().unwrap().len(),
            (LIMIT / line.len() + 10) * line.len()
        );
    }
}
