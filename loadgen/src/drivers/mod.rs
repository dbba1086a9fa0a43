//! Drivers run the same workload over different paths: `native` (rdkafka over Kafka's TCP
//! protocol, the baseline), `rest` and `v3stream` (HTTP to a Confluent-compatible proxy; `http1`
//! is their client, `http2` the REST driver's h2c one, `link` either), `mqtt` (devices
//! publishing to the proxy's MQTT listener) and `mqtt_relay` (devices publishing into an MQTT
//! broker that the proxy's MQTT source subscribes to; its far end counts `arrivals`); `schema_values` holds the values an Avro, JSON Schema or Protobuf
//! workload writes, `schedule` the open-loop send times.

pub mod arrivals;
pub mod http1;
pub mod http2;
pub mod link;
pub mod mqtt;
pub mod mqtt_relay;
pub mod native;
pub mod rest;
pub mod schedule;
pub mod schema_values;
pub mod v3stream;

use std::ops::Range;

/// Splits record ids `0..n` into `parts` contiguous ranges.
pub fn split(n: u64, parts: usize) -> Vec<Range<u64>> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| (n * i / parts)..(n * (i + 1) / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Partitions `0..partitions` dealt round-robin to `consumers` consumers.
pub fn deal(partitions: i32, consumers: usize) -> Vec<Vec<i32>> {
    let mut out = vec![Vec::new(); consumers.clamp(1, partitions.max(1) as usize)];
    let n = out.len();
    for p in 0..partitions {
        out[p as usize % n].push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_everything_once() {
        let parts = split(10, 3);
        assert_eq!(parts, vec![0..3, 3..6, 6..10]);
        assert_eq!(split(2, 8).iter().map(|r| r.end - r.start).sum::<u64>(), 2);
        assert_eq!(deal(4, 3), vec![vec![0, 3], vec![1], vec![2]]);
        assert_eq!(deal(2, 5), vec![vec![0], vec![1]]);
    }
}
