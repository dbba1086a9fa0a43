//! Free loopback ports for listeners that are bound later, by another process or by a component
//! that takes an address rather than a socket.
//!
//! A port is chosen below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), in turn
//! from a start that differs per process, and checked by binding it. Asking the kernel for port 0
//! and closing the socket is not enough: between that and the real bind, any `bind(0)` or
//! outgoing connection on the machine may draw the same port from the ephemeral range. A test's
//! proxy once bound its REST listener to the port just handed out for its MQTT listener, which
//! then failed to start; two calls in a row could also return the same port. Ports handed out
//! here are never in the range those draw from, and never twice in one process.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// How many ports below the ephemeral range are used.
const SPAN: u32 = 12_000;
/// The lowest port used, whatever the ephemeral range.
const FLOOR: u32 = 1_024;

/// A loopback port that nothing listens on now, outside the kernel's ephemeral range, and not
/// handed out before by this process.
pub fn free_port() -> io::Result<u16> {
    let &Range { low, span, start } = RANGE.get_or_init(Range::below_ephemeral);
    for _ in 0..span {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(low + offset).expect("the range ends below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    // Every port of the range is taken: fall back to the kernel's choice.
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The ports handed out, `[low, low + span)`, and this process's first offset into them.
struct Range {
    low: u32,
    span: u32,
    start: u32,
}

static RANGE: OnceLock<Range> = OnceLock::new();
/// Ports handed out (or found taken) so far by this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl Range {
    /// The ports below the ephemeral range, with a start from the process id and the clock.
    fn below_ephemeral() -> Range {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32_768)
            .min(65_535);
        let low = ephemeral_low.saturating_sub(SPAN).max(FLOOR);
        let span = ephemeral_low.saturating_sub(low).max(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let start = std::process::id().wrapping_mul(7_919).wrapping_add(nanos) % span;
        Range { low, span, start }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "no port twice: {ports:?}");
        let &Range { low, span, .. } = RANGE.get().unwrap();
        for port in ports {
            assert!(
                (low..low + span).contains(&u32::from(port)),
                "{port} outside [{low}, {})",
                low + span
            );
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
