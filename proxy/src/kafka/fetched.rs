//! A record a consumer instance fetched, kept as librdkafka's own message until a client has it.
//!
//! Hand-written for speed. rust-rdkafka's `BorrowedMessage` borrows its consumer for the length
//! of one poll, so a buffer that outlives the poll would have to copy every record out
//! (`detach`): the topic name, key, value and headers, which librdkafka parses on first use.
//! In the profile of `scenarios/consume-cpu.toml` that copy, and freeing it again, took a fifth
//! of the proxy's CPU per consumed record (README, "End-to-end latency and consume"). A
//! [`Fetched`] keeps the message itself, whose key and value point into the fetch response
//! librdkafka already holds, and headers are parsed only for instances that show them.
//!
//! Safety: librdkafka's messages must be destroyed before their consumer (a consumer destroyed
//! first waits for them forever). A `Fetched` therefore holds an `Arc` of the consumer it came
//! from, declared after the message so that it is dropped after it: the consumer cannot go
//! first, whoever drops the last record.

use std::ops::Deref;
use std::sync::Arc;

use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};

/// A fetched record and the consumer keeping its message valid.
pub(super) struct Fetched<C: ConsumerContext + 'static> {
    /// Dropped first (fields drop in declaration order).
    message: BorrowedMessage<'static>,
    _consumer: Arc<StreamConsumer<C>>,
}

impl<C: ConsumerContext + 'static> Fetched<C> {
    /// Keeps `message`, which `consumer` delivered.
    #[allow(unsafe_code)]
    pub(super) fn new(message: BorrowedMessage<'_>, consumer: &Arc<StreamConsumer<C>>) -> Self {
        // SAFETY: the borrow only ties the message to its consumer's life, and the consumer
        // lives at least as long as `_consumer`, which is dropped after `message`.
        let message = unsafe {
            std::mem::transmute::<BorrowedMessage<'_>, BorrowedMessage<'static>>(message)
        };
        Fetched {
            message,
            _consumer: Arc::clone(consumer),
        }
    }

    /// Bytes counted against a read's `max_bytes`: unencoded key plus value.
    pub(super) fn size(&self) -> u64 {
        (self.message.key().map_or(0, <[u8]>::len) + self.message.payload().map_or(0, <[u8]>::len))
            as u64
    }

    /// True for a record of `topic`'s `partition`.
    pub(super) fn is_of(&self, topic: &str, partition: i32) -> bool {
        self.message.partition() == partition && self.message.topic() == topic
    }
}

impl<C: ConsumerContext + 'static> Deref for Fetched<C> {
    type Target = BorrowedMessage<'static>;

    fn deref(&self) -> &Self::Target {
        &self.message
    }
}

// SAFETY: a message is read-only once delivered, and librdkafka lets any thread read or destroy
// it. A `Fetched` moves between threads whole: its event handle is shared with no other value.
#[allow(unsafe_code)]
unsafe impl<C: ConsumerContext + 'static> Send for Fetched<C> {}
