//! A topic-partition: the key of consumer assignments, positions and alignment. A leaf, so the
//! consumer and its rebalance context (`alignment.rs`) both use it without depending on each
//! other.

/// A topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}
