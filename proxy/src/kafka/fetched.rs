//! A record a consumer instance fetched, kept as librdkafka's own message until a client has it.
//!
//! Hand-written for speed. rust-rdkafka's `BorrowedMessage` borrows its consumer for the length of
//! one poll, so a buffer that outlives the poll would have to copy every record out (`detach`): the
//! topic name, key, value and headers, which librdkafka parses on first use. In the profile of
//! `scenarios/consume-cpu.toml` that copy, and freeing it again, took a fifth of the proxy's CPU
//! per consumed record (docs/performance-log.md, "End-to-end latency and consume"). A [`Fetched`]
//! keeps the message itself, whose key and value point into the fetch response librdkafka already
//! holds, and headers are read only for instances that show them. It holds either a message polled
//! through rust-rdkafka (with its event) or one taken in a batch from a partition's queue
//! (`kafka/partition_queues.rs`), which it destroys itself.
//!
//! Safety: librdkafka's messages must be destroyed before their consumer (a consumer destroyed
//! first waits for them forever). A `Fetched` therefore holds an `Arc` of the consumer it came
//! from, declared after the message so that it is dropped after it: the consumer cannot go
//! first, whoever drops the last record.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::Arc;

use rdkafka::bindings as rd;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;

/// Who destroys the message.
enum Owner {
    /// rust-rdkafka: dropping the message destroys its event, and the message with it.
    Event(#[allow(dead_code)] BorrowedMessage<'static>),
    /// A message from `rd_kafka_consume_batch_queue`: `rd_kafka_message_destroy`.
    Batch,
}

/// A fetched record and the consumer keeping its message valid.
pub(super) struct Fetched<C: ConsumerContext + 'static> {
    message: NonNull<rd::rd_kafka_message_t>,
    owner: Owner,
    /// The consumer's rebalance generation when the record was taken.
    pub(super) generation: u64,
    /// Dropped after the message (fields drop in declaration order, after `Drop::drop`).
    _consumer: Arc<StreamConsumer<C>>,
}

impl<C: ConsumerContext + 'static> Fetched<C> {
    /// Keeps `message`, which `consumer` delivered through rust-rdkafka.
    pub(super) fn polled(
        message: BorrowedMessage<'_>,
        consumer: &Arc<StreamConsumer<C>>,
        generation: u64,
    ) -> Self {
        // SAFETY: the borrow only ties the message to its consumer's life, and the consumer
        // lives at least as long as `_consumer`, which is dropped after the message.
        let message = unsafe {
            std::mem::transmute::<BorrowedMessage<'_>, BorrowedMessage<'static>>(message)
        };
        Fetched {
            message: NonNull::new(message.ptr()).expect("a polled message"),
            owner: Owner::Event(message),
            generation,
            _consumer: Arc::clone(consumer),
        }
    }

    /// Takes over a message `consumer` returned from `rd_kafka_consume_batch_queue`; a message
    /// carrying an error is destroyed and its error returned.
    ///
    /// # Safety
    /// `message` is a valid message from that call, not yet destroyed, and owned by the caller.
    pub(super) unsafe fn batched(
        message: NonNull<rd::rd_kafka_message_t>,
        consumer: &Arc<StreamConsumer<C>>,
        generation: u64,
    ) -> Result<Self, KafkaError> {
        let fetched = Fetched {
            message,
            owner: Owner::Batch,
            generation,
            _consumer: Arc::clone(consumer),
        };
        // SAFETY: valid per the caller.
        let raw = unsafe { fetched.message.as_ref() };
        match raw.err {
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(fetched),
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                Err(KafkaError::PartitionEOF(raw.partition))
            }
            err => Err(KafkaError::MessageConsumption(err.into())),
        }
    }

    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: valid until `self` is dropped (see the type's docs).
        unsafe { self.message.as_ref() }
    }

    pub(super) fn topic(&self) -> &str {
        // SAFETY: a fetched message has a topic handle, and its name lives as long as it.
        let name = unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(self.raw().rkt)) };
        name.to_str().unwrap_or_default()
    }

    pub(super) fn partition(&self) -> i32 {
        self.raw().partition
    }

    pub(super) fn offset(&self) -> i64 {
        self.raw().offset
    }

    pub(super) fn key(&self) -> Option<&[u8]> {
        let raw = self.raw();
        // SAFETY: librdkafka's key pointer and length, valid as long as the message.
        (!raw.key.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(raw.key.cast::<u8>(), raw.key_len) })
    }

    pub(super) fn payload(&self) -> Option<&[u8]> {
        let raw = self.raw();
        // SAFETY: as for the key.
        (!raw.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(raw.payload.cast::<u8>(), raw.len) })
    }

    /// The record's timestamp in milliseconds, if it has one.
    pub(super) fn timestamp_ms(&self) -> Option<i64> {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a valid message and a local out-parameter.
        let ts = unsafe { rd::rd_kafka_message_timestamp(self.message.as_ptr(), &mut kind) };
        (ts != -1 && kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            .then_some(ts)
    }

    /// Appends the record's headers, in order, to `out`.
    pub(super) fn headers_into<'a>(&'a self, out: &mut Vec<(&'a str, Option<&'a [u8]>)>) {
        let mut headers: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
        // SAFETY: a valid message; librdkafka parses its headers once and keeps them with it.
        let err = unsafe { rd::rd_kafka_message_headers(self.message.as_ptr(), &mut headers) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
            return;
        }
        for i in 0.. {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
            // SAFETY: `headers` belongs to the message; the out-parameters are locals.
            let err = unsafe {
                rd::rd_kafka_header_get_all(headers, i, &mut name, &mut value, &mut size)
            };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                break;
            }
            // SAFETY: name and value live as long as the message's headers.
            let name = unsafe { CStr::from_ptr(name) }.to_str().unwrap_or_default();
            let value = (!value.is_null())
                .then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
            out.push((name, value));
        }
    }

    /// Bytes counted against a read's `max_bytes`: unencoded key plus value.
    pub(super) fn size(&self) -> u64 {
        (self.raw().key_len + self.raw().len) as u64
    }

    /// True for a record of `topic`'s `partition`.
    pub(super) fn is_of(&self, topic: &str, partition: i32) -> bool {
        self.partition() == partition && self.topic() == topic
    }

    /// True when `other` is of the same partition. Records come in runs from one partition's
    /// queue, and librdkafka keeps one topic handle per topic, so comparing the handles settles
    /// it without reading the topic's name (a `strlen` and a UTF-8 check per record); the names
    /// decide only when the handles differ.
    pub(super) fn same_partition(&self, other: &Self) -> bool {
        self.partition() == other.partition()
            && (std::ptr::eq(self.raw().rkt, other.raw().rkt) || self.topic() == other.topic())
    }
}

impl<C: ConsumerContext + 'static> Drop for Fetched<C> {
    fn drop(&mut self) {
        if let Owner::Batch = self.owner {
            // SAFETY: this value owns the message, destroyed once here, before `_consumer`.
            unsafe { rd::rd_kafka_message_destroy(self.message.as_ptr()) };
        }
        // An `Owner::Event` destroys its event (and the message) as the field drops.
    }
}

// SAFETY: a message is read-only once delivered, and librdkafka lets any thread read or destroy
// it. A `Fetched` moves between threads whole: its event handle is shared with no other value.
unsafe impl<C: ConsumerContext + 'static> Send for Fetched<C> {}
