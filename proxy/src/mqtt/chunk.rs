//! The publishes a connection (or an MQTT source) read for one lane, made Kafka records as they
//! are read: each payload is copied into the chunk's arena straight from the socket's read
//! buffer; the key (the MQTT topic) and the headers `mqtt.topic`, `mqtt.qos` and any of the
//! publish's own are written once for a run of publishes with the same topic, QoS and own
//! headers, and shared by their records. A writer then joins its batch's chunks with one bulk
//! copy of each arena ([`records`]).
//!
//! Hand-written for speed: until 2026-12-07 each publish travelled as a slice of the read buffer (a
//! `Bytes` split off and frozen, cloned into its header, dropped after Kafka's answer) and was
//! copied into the writer's records one by one, each with a header vector entry holding another
//! reference. Those reference counts and per-record copies were about a tenth of the proxy's CPU at
//! QoS 2, and the shared read buffer could not be reused in place (docs/performance-log.md, "MQTT
//! publishes made records as they are read").

use std::ops::Range;

use bytes::Bytes;
use rmqtt_codec::types::QoS;

use crate::record::{self, put, EncodedRecord, EncodedRecords, Header, RecordsBuilder};

/// One publish as a connection or an MQTT source hands it over, borrowed: its payload is copied
/// into its chunk, nothing else is kept of it.
pub struct Publish<'a> {
    pub mqtt_topic: &'a Bytes,
    pub payload: &'a [u8],
    pub qos: QoS,
    /// Arrival, in ms since the epoch: the record's CreateTime.
    pub arrived: i64,
    /// The number of its answer on its connection (QoS 1 and 2); QoS 0 publishes have no one
    /// to tell.
    pub seq: Option<u64>,
    /// Headers after `mqtt.topic` and `mqtt.qos`: MQTT 5 properties, an MQTT source's
    /// `mqtt.retained`.
    pub extra: Vec<Header>,
}

/// What answering a publish needs once Kafka has its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub seq: Option<u64>,
    pub qos: QoS,
    /// Payload bytes (counted when Kafka has the record).
    pub bytes: usize,
}

/// Publishes in publish order, as Kafka records: key the MQTT topic, value the payload, headers
/// `mqtt.topic`, `mqtt.qos` and the publish's own, CreateTime its arrival.
#[derive(Default)]
pub struct Publishes {
    arena: Vec<u8>,
    records: Vec<EncodedRecord>,
    headers: Vec<Header>,
    tickets: Vec<Ticket>,
    /// Payload bytes in all.
    bytes: usize,
    /// The last record's topic, QoS, key and headers: the next publish with the same ones
    /// shares them.
    shared: Option<Shared>,
}

struct Shared {
    topic: Bytes,
    qos: QoS,
    key: Range<usize>,
    headers: Range<u32>,
    /// What the run's key and headers take in a record ([`record::fields_size`] less the value).
    fields: usize,
}

const QOS: [&[u8]; 3] = [b"0", b"1", b"2"];

/// Equal bytes; at once when both are the same buffer, as a connection's publishes to its last
/// topic share that topic's `Bytes`.
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    std::ptr::eq(&a[..], &b[..]) || a == b
}

impl Publishes {
    /// Room for `records` publishes of `bytes` payload bytes in all.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        Publishes {
            arena: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records),
            tickets: Vec::with_capacity(records),
            ..Publishes::default()
        }
    }

    pub fn push(&mut self, p: Publish<'_>) {
        let headers = &self.headers;
        let (key, headers, shared) = match &self.shared {
            Some(s)
                if s.qos == p.qos
                    && same_bytes(&s.topic, p.mqtt_topic)
                    && headers[s.headers.start as usize + 2..s.headers.end as usize]
                        == p.extra[..] =>
            {
                (s.key.clone(), s.headers.clone(), s.fields)
            }
            _ => {
                let key = put(&mut self.arena, p.mqtt_topic);
                let first = self.headers.len() as u32;
                let qos = Bytes::from_static(QOS[usize::from(u8::from(p.qos))]);
                self.headers
                    .push(("mqtt.topic".into(), Some(p.mqtt_topic.clone())));
                self.headers.push(("mqtt.qos".into(), Some(qos)));
                self.headers.extend(p.extra);
                let headers = first..self.headers.len() as u32;
                let fields = record::field_size(Some(key.len()))
                    + record::headers_size(&self.headers[first as usize..]);
                self.shared = Some(Shared {
                    topic: p.mqtt_topic.clone(),
                    qos: p.qos,
                    key: key.clone(),
                    headers: headers.clone(),
                    fields,
                });
                (key, headers, fields)
            }
        };
        let value = put(&mut self.arena, p.payload);
        self.bytes += p.payload.len();
        self.records.push(EncodedRecord {
            key: Some(key),
            value: Some(value),
            partition: None,
            headers,
            timestamp: Some(p.arrived),
            fields: (shared + record::field_size(Some(p.payload.len()))) as u32,
        });
        self.tickets.push(Ticket {
            seq: p.seq,
            qos: p.qos,
            bytes: p.payload.len(),
        });
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Payload bytes in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of the arena (payloads and the topics written once per run).
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// The memory it holds: its arena's, records', headers' and answers' room.
    pub fn capacity_bytes(&self) -> usize {
        use std::mem::size_of;
        self.arena.capacity()
            + self.records.capacity() * size_of::<EncodedRecord>()
            + self.headers.capacity() * size_of::<Header>()
            + self.tickets.capacity() * size_of::<Ticket>()
    }

    /// Empties it, keeping its room.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.records.clear();
        self.headers.clear();
        self.tickets.clear();
        self.bytes = 0;
        self.shared = None;
    }

    /// The publishes' answers, in order.
    pub fn tickets(&self) -> &[Ticket] {
        &self.tickets
    }

    /// The earliest arrival (ms since the epoch).
    pub fn oldest(&self) -> Option<i64> {
        self.records.iter().filter_map(|r| r.timestamp).min()
    }

    /// Takes out the `index`-th publish (its payload stays in the arena, unreferenced).
    pub fn remove(&mut self, index: usize) -> Ticket {
        self.records.remove(index);
        let ticket = self.tickets.remove(index);
        self.bytes -= ticket.bytes;
        ticket
    }
}

/// The Kafka records of `chunks`, in order: each chunk's arena in one copy.
pub fn records<'c>(chunks: impl Iterator<Item = &'c Publishes> + Clone) -> EncodedRecords {
    let (count, bytes, headers) = chunks.clone().fold((0, 0, 0), |(n, b, h), c| {
        (n + c.records.len(), b + c.arena.len(), h + c.headers.len())
    });
    let mut out = RecordsBuilder::with_capacity(count, bytes, headers);
    for c in chunks {
        out.append(&c.arena, &c.records, &c.headers);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish<'a>(
        topic: &'a Bytes,
        payload: &'a [u8],
        qos: QoS,
        extra: Vec<Header>,
    ) -> Publish<'a> {
        Publish {
            mqtt_topic: topic,
            payload,
            qos,
            arrived: 1_765_000_000_000 + payload.len() as i64,
            seq: (qos != QoS::AtMostOnce).then_some(payload.len() as u64),
            extra,
        }
    }

    /// Each record reads as the publish it came from, whichever records share a key and
    /// headers, across chunks joined into one batch, and after one is taken out.
    #[test]
    fn records_are_the_publishes_with_shared_keys_and_headers() {
        let a = Bytes::from_static(b"devices/1/temp");
        let b = Bytes::from_static(b"devices/22/hum");
        let user = || vec![("unit".into(), Some(Bytes::from_static(b"C")))];
        let retained = || vec![("mqtt.retained".into(), Some(Bytes::from_static(b"false")))];
        let sent: Vec<(&Bytes, &[u8], QoS, Vec<Header>)> = vec![
            (&a, b"1", QoS::ExactlyOnce, vec![]),
            (&a, b"22", QoS::ExactlyOnce, vec![]),
            (&a, b"333", QoS::AtLeastOnce, vec![]),
            (&b, b"4444", QoS::AtLeastOnce, vec![]),
            (&b, b"55555", QoS::AtLeastOnce, user()),
            (&b, b"666666", QoS::AtLeastOnce, user()),
            (&b, b"7777777", QoS::AtLeastOnce, retained()),
            (&a, b"", QoS::AtMostOnce, vec![]),
            (&a, b"999999999", QoS::AtMostOnce, vec![]),
        ];
        let mut first = Publishes::default();
        let mut second = Publishes::with_capacity(2, 10);
        for (i, (topic, payload, qos, extra)) in sent.iter().cloned().enumerate() {
            let chunk = if i < 5 { &mut first } else { &mut second };
            chunk.push(publish(topic, payload, qos, extra));
        }
        // Shared: records 0-1 (then the QoS changes), 5 with 4 in another chunk is not.
        assert_eq!(first.headers.len(), 2 + 2 + 2 + 3);
        assert_eq!(first.bytes(), 1 + 2 + 3 + 4 + 5);
        let check = |records: &EncodedRecords, sent: &[(&Bytes, &[u8], QoS, Vec<Header>)]| {
            assert_eq!(records.len(), sent.len());
            for (r, (topic, payload, qos, extra)) in records.iter().zip(sent) {
                assert_eq!(r.key, Some(&topic[..]));
                assert_eq!(r.value, Some(*payload));
                assert_eq!(r.timestamp, Some(1_765_000_000_000 + payload.len() as i64));
                assert_eq!(r.partition, None);
                let q = Bytes::from_static(QOS[usize::from(u8::from(*qos))]);
                let mut want: Vec<Header> = vec![
                    ("mqtt.topic".into(), Some((*topic).clone())),
                    ("mqtt.qos".into(), Some(q)),
                ];
                want.extend(extra.iter().cloned());
                assert_eq!(r.headers, &want[..]);
                let fields = record::fields_size(Some(topic.len()), Some(payload.len()), &want);
                assert_eq!(
                    r.fields, fields,
                    "counted once per run, the same as per record"
                );
            }
        };
        check(&records([&first, &second].into_iter()), &sent);
        let tickets: Vec<Ticket> = first
            .tickets()
            .iter()
            .chain(second.tickets())
            .copied()
            .collect();
        assert_eq!(
            tickets[2],
            Ticket {
                seq: Some(3),
                qos: QoS::AtLeastOnce,
                bytes: 3
            }
        );
        assert_eq!(tickets[8].seq, None);
        // One taken out: the others read as before.
        assert_eq!(second.remove(1).bytes, 7);
        let mut rest = sent.clone();
        rest.remove(6);
        check(&records([&first, &second].into_iter()), &rest);
        assert_eq!(second.bytes(), 6 + 9);
        assert_eq!(first.oldest(), Some(1_765_000_000_001));
        assert_eq!(Publishes::default().oldest(), None);
        // Emptied and filled again (a spare chunk): nothing of before is left, not even the
        // shared key and headers of its last topic.
        let room = second.capacity_bytes();
        second.clear();
        assert!(second.is_empty() && second.bytes() == 0 && second.tickets().is_empty());
        second.push(publish(&b, b"xy", QoS::AtMostOnce, vec![]));
        assert_eq!(second.capacity_bytes(), room);
        check(
            &records([&second].into_iter()),
            &[(&b, b"xy", QoS::AtMostOnce, vec![])],
        );
    }
}
