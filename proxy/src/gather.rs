//! Group commit over a queue, the one batching primitive of the batch engine's broker lanes
//! (`kafka/batch.rs`) and the MQTT writers (`mqtt/batcher.rs`): wait for one item, then take
//! everything already queued behind it, up to a count and a size, without waiting for more. No
//! timer holds an item back: a lone item goes at once, and under load items gather while the
//! previous batch is being written. The first item that would exceed a limit is kept for the
//! next batch, so a batch is never split; a lone item larger than the limits is a batch alone.

use tokio::sync::mpsc;

/// A queue [`Gather`] reads: bounded or unbounded tokio channels.
pub trait Queue<T> {
    /// The next item, waiting for it; None once every sender is gone and the queue is empty.
    fn recv(&mut self) -> impl std::future::Future<Output = Option<T>> + Send;
    /// An item already queued, if any.
    fn try_recv(&mut self) -> Option<T>;
}

impl<T: Send> Queue<T> for mpsc::Receiver<T> {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<T>> + Send {
        mpsc::Receiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<T> {
        mpsc::Receiver::try_recv(self).ok()
    }
}

impl<T: Send> Queue<T> for mpsc::UnboundedReceiver<T> {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<T>> + Send {
        mpsc::UnboundedReceiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<T> {
        mpsc::UnboundedReceiver::try_recv(self).ok()
    }
}

/// How much one batch may hold, and what an item weighs: `(count, bytes)`.
#[derive(Debug, Clone, Copy)]
pub struct Limits<T> {
    pub max_count: usize,
    pub max_bytes: usize,
    pub weigh: fn(&T) -> (usize, usize),
}

/// Batches from one queue.
pub struct Gather<Q, T> {
    queue: Q,
    carry: Option<T>,
    limits: Limits<T>,
}

impl<T: Send, Q: Queue<T>> Gather<Q, T> {
    pub fn new(queue: Q, limits: Limits<T>) -> Self {
        Gather {
            queue,
            carry: None,
            limits,
        }
    }

    /// The next batch, waiting for its first item; None once the queue has ended.
    pub async fn next(&mut self) -> Option<Vec<T>> {
        let first = match self.carry.take() {
            Some(item) => item,
            None => self.queue.recv().await?,
        };
        let Limits {
            max_count,
            max_bytes,
            weigh,
        } = self.limits;
        let (mut count, mut bytes) = weigh(&first);
        let mut batch = vec![first];
        while count < max_count && bytes < max_bytes {
            let Some(item) = self.queue.try_recv() else {
                break;
            };
            let (n, b) = weigh(&item);
            if count + n > max_count || bytes + b > max_bytes {
                self.carry = Some(item);
                break;
            }
            count += n;
            bytes += b;
            batch.push(item);
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_take_what_is_queued_within_the_limits_and_carry_the_rest() {
        let (tx, rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let limits = Limits {
            max_count: 10,
            max_bytes: 100,
            weigh: |item: &(usize, usize)| *item,
        };
        let mut gather = Gather::new(rx, limits);
        for item in [(1, 40), (1, 40), (1, 40), (20, 1), (1, 1)] {
            tx.send(item).unwrap();
        }
        // 40 + 40 fit; the third would pass 100 bytes and waits.
        assert_eq!(gather.next().await.unwrap(), vec![(1, 40), (1, 40)]);
        // The carried item leads; (20, 1) alone passes the count, so it waits in turn.
        assert_eq!(gather.next().await.unwrap(), vec![(1, 40)]);
        // An item over the limits on its own is a batch alone.
        assert_eq!(gather.next().await.unwrap(), vec![(20, 1)]);
        assert_eq!(gather.next().await.unwrap(), vec![(1, 1)]);
        drop(tx);
        assert!(gather.next().await.is_none());
    }

    #[tokio::test]
    async fn a_bounded_queue_gathers_the_same_way() {
        let (tx, rx) = mpsc::channel::<(usize, usize)>(8);
        let limits = Limits {
            max_count: 2,
            max_bytes: usize::MAX,
            weigh: |item: &(usize, usize)| *item,
        };
        let mut gather = Gather::new(rx, limits);
        for _ in 0..3 {
            tx.send((1, 0)).await.unwrap();
        }
        assert_eq!(gather.next().await.unwrap().len(), 2);
        assert_eq!(gather.next().await.unwrap().len(), 1);
    }
}
