//! librdkafka's producer, with a thread that serves its delivery reports and sleeps until there
//! are some.
//!
//! rdkafka's `ThreadedProducer` calls `BaseProducer::poll(100 ms)` in a loop. That poll waits on
//! librdkafka's queue for the time left in whole milliseconds, so for the last millisecond of
//! every 100 ms it asks again and again without waiting: about 1% of a core, busy or idle, and
//! 6–9% of the proxy's CPU samples over a harness run. Here the main queue's callback (librdkafka
//! calls it when the queue turns non-empty) wakes the thread, which serves the queue one
//! `poll(0)` at a time until it is empty. A 100 ms timed wait remains as a safety net.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

/// What the queue's callback and the thread share.
struct Signal {
    /// Set by the callback (or at drop), cleared by the thread before it serves the queue.
    pending: Mutex<bool>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Signal {
    fn raise(&self) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.ready.notify_one();
    }
}

/// librdkafka's non-empty callback on the producer's main queue.
unsafe extern "C" fn queue_not_empty(_rk: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Signal` of a live `PolledProducer`: the callback is disabled
    // before that is dropped.
    unsafe { (*opaque.cast::<Signal>()).raise() };
}

/// The main queue's handle, used by the thread to see whether anything is left to serve.
struct Queue(NonNull<rd::rd_kafka_queue_t>);

// SAFETY: librdkafka's queue handles may be used from any thread (it locks inside).
unsafe impl Send for Queue {}
unsafe impl Sync for Queue {}

/// A record librdkafka did not take, with why (it is handed back, as `BaseProducer::send` does).
pub(super) type Refused<'a, K, P, O> = (KafkaError, BaseRecord<'a, K, P, O>);

pub(super) struct PolledProducer<C: ProducerContext + 'static> {
    producer: Arc<BaseProducer<C>>,
    signal: Arc<Signal>,
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

impl<C: ProducerContext + 'static> PolledProducer<C> {
    pub(super) fn new(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        let producer = Arc::new(BaseProducer::from_config_and_context(config, context)?);
        let signal = Arc::new(Signal {
            pending: Mutex::new(false),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        // SAFETY: the client is live; the returned reference is destroyed in `drop`.
        let queue =
            NonNull::new(unsafe { rd::rd_kafka_queue_get_main(producer.client().native_ptr()) })
                .ok_or(KafkaError::ClientCreation("no main queue".into()))?;
        let queue = Arc::new(Queue(queue));
        // SAFETY: `signal` outlives the callback, which `drop` disables before releasing it.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(
                queue.0.as_ptr(),
                Some(queue_not_empty),
                Arc::as_ptr(&signal).cast_mut().cast::<c_void>(),
            );
        }
        let thread = std::thread::Builder::new()
            .name("producer".into())
            .spawn({
                let (producer, signal, queue) = (producer.clone(), signal.clone(), queue.clone());
                move || serve(&producer, &signal, &queue)
            })
            .map_err(|e| KafkaError::ClientCreation(format!("producer thread: {e}")))?;
        Ok(PolledProducer {
            producer,
            signal,
            queue,
            thread: Some(thread),
        })
    }

    /// Enqueues a record (see `BaseProducer::send`).
    #[allow(clippy::result_large_err)]
    pub(super) fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), Refused<'a, K, P, C::DeliveryOpaque>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.producer.send(record)
    }

    pub(super) fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.producer.flush(timeout)
    }

    pub(super) fn client(&self) -> &Client<C> {
        self.producer.client()
    }
}

/// The thread: waits for the callback (or 100 ms), then serves every queued event.
fn serve<C: ProducerContext + 'static>(producer: &BaseProducer<C>, signal: &Signal, queue: &Queue) {
    loop {
        {
            let pending = signal
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (mut pending, _) = signal
                .ready
                .wait_timeout_while(pending, Duration::from_millis(100), |p| !*p)
                .unwrap_or_else(PoisonError::into_inner);
            *pending = false;
        }
        // SAFETY: the queue reference lives until the thread has been joined.
        while unsafe { rd::rd_kafka_queue_length(queue.0.as_ptr()) } > 0 {
            // One event per call: a zero timeout neither waits nor spins.
            producer.poll(Duration::ZERO);
        }
        if signal.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

impl<C: ProducerContext + 'static> Drop for PolledProducer<C> {
    fn drop(&mut self) {
        // SAFETY: the queue reference is live; after this no callback uses `signal`.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(self.queue.0.as_ptr(), None, std::ptr::null_mut())
        };
        self.signal.stop.store(true, Ordering::Relaxed);
        self.signal.raise();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: the thread is gone and the callback disabled: nothing uses the handle again.
        unsafe { rd::rd_kafka_queue_destroy(self.queue.0.as_ptr()) };
    }
}
