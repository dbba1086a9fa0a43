//! `kafka::Error`: what can go wrong talking to Kafka, the one function that classifies
//! librdkafka error codes, and the batch engine's failures ([`BatchFailure`]), mapped onto them.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;

/// Errors at the edge of the Kafka module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("topic {0} not found")]
    TopicNotFound(String),
    /// A name that is not a legal Kafka topic name; it never reaches librdkafka.
    #[error("invalid topic name {0:?}: {1}")]
    InvalidTopic(String, crate::names::NameError),
    /// A subscription pattern that is not a valid regular expression.
    #[error("invalid topic pattern {0:?}: {1}")]
    InvalidPattern(String, String),
    #[error("partition {1} of topic {0} not found")]
    PartitionNotFound(String, i32),
    #[error("illegal state: {0}")]
    IllegalState(String),
    #[error("invalid consumer configuration: {0}")]
    InvalidConfig(String),
    #[error("offset {0} is out of range")]
    InvalidOffset(i64),
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// An admin request the cluster refused (create or delete a topic, add partitions...), with
    /// Kafka's error code and the text Kafka's clients give it.
    #[error("{message}")]
    Admin {
        code: RDKafkaErrorCode,
        message: String,
    },
    /// The cluster refused the proxy's own credentials (SASL), with librdkafka's reason.
    #[error("Kafka refused the proxy's credentials: {0}")]
    Authentication(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why one record of a produce request was not written: what leaves the Kafka module in place of
/// librdkafka's error, classified here once. Displays as librdkafka's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecordError {
    pub class: ErrorClass,
    pub message: String,
}

impl From<KafkaError> for RecordError {
    fn from(err: KafkaError) -> Self {
        RecordError {
            class: err
                .rdkafka_error_code()
                .map(classify)
                .unwrap_or(ErrorClass::Other),
            message: err.to_string(),
        }
    }
}

/// Why the batch engine did not get a partition's records written. The engine speaks the wire
/// protocol itself, so its failures are its own; they become [`RecordError`]s here, with the
/// class and the text librdkafka gives the same failure, so that both engines answer alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFailure {
    /// The broker answered this error code for the partition.
    Broker(i16),
    /// The request never reached the broker (no connection, or not sent): nothing was written.
    NotSent,
    /// Sent, but the connection was lost or no answer came in time: it may have been written.
    OutcomeUnknown,
    /// The broker's answer did not parse.
    BadAnswer,
    /// The broker's answer left the partition out.
    NotAnswered,
    /// No leader is known for the partition.
    NoLeader,
    /// The topic's leaders could not be looked up.
    Lookup(RecordError),
    /// Never settled (a bug if seen).
    Canceled,
}

impl BatchFailure {
    /// The lookup of a topic's leaders failed with `err`.
    pub fn lookup(err: &Error) -> Self {
        BatchFailure::Lookup(match err {
            Error::Kafka(k) => RecordError::from(k.clone()),
            other => RecordError::from(KafkaError::MessageProduction(match other.class() {
                ErrorClass::UnknownTopicOrPartition => RDKafkaErrorCode::UnknownTopicOrPartition,
                _ => RDKafkaErrorCode::BrokerTransportFailure,
            })),
        })
    }

    /// Broker error codes after which the broker has written nothing and a retry on fresh
    /// metadata can succeed.
    pub fn unwritten(code: i16) -> bool {
        matches!(
            code,
            3 /* UNKNOWN_TOPIC_OR_PARTITION */ | 5 /* LEADER_NOT_AVAILABLE */ |
            6 /* NOT_LEADER_OR_FOLLOWER */ | 19 /* NOT_ENOUGH_REPLICAS */
        )
    }
}

impl From<BatchFailure> for RecordError {
    fn from(failure: BatchFailure) -> Self {
        use RDKafkaErrorCode as C;
        let code = match failure {
            BatchFailure::Lookup(err) => return err,
            BatchFailure::Canceled => return RecordError::from(KafkaError::Canceled),
            // Broker and librdkafka error codes share their numbers.
            BatchFailure::Broker(code) => RDKafkaRespErr::try_from(i32::from(code))
                .map(RDKafkaErrorCode::from)
                .unwrap_or(C::Unknown),
            BatchFailure::NotSent => C::BrokerTransportFailure,
            BatchFailure::OutcomeUnknown => C::MessageTimedOut,
            BatchFailure::BadAnswer => C::BadMessage,
            BatchFailure::NotAnswered => C::InvalidMessage,
            BatchFailure::NoLeader => C::LeaderNotAvailable,
        };
        RecordError::from(KafkaError::MessageProduction(code))
    }
}

/// How a Kafka failure should be reported, independent of HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Authentication,
    Authorization,
    UnknownTopicOrPartition,
    IllegalState,
    /// The request cannot succeed as given (a topic that exists, too few partitions, a
    /// replication factor or config the cluster refuses, an API the broker lacks).
    Invalid,
    BrokerNotAvailable,
    /// Worth retrying: timeouts, leader changes, queue full.
    Retriable,
    Other,
}

/// Classifies a librdkafka error code. The single place that knows these codes.
pub fn classify(code: RDKafkaErrorCode) -> ErrorClass {
    use RDKafkaErrorCode as C;
    match code {
        C::SaslAuthenticationFailed | C::Authentication => ErrorClass::Authentication,
        C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::TransactionalIdAuthorizationFailed => ErrorClass::Authorization,
        C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition | C::UnknownTopicId => {
            ErrorClass::UnknownTopicOrPartition
        }
        C::State | C::IllegalGeneration | C::RebalanceInProgress => ErrorClass::IllegalState,
        C::TopicAlreadyExists
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidReplicaAssignment
        | C::InvalidConfig
        | C::PolicyViolation
        | C::InvalidRequest
        | C::UnsupportedVersion
        | C::UnsupportedFeature
        | C::InvalidTopic
        | C::TopicDeletionDisabled
        | C::SecurityDisabled => ErrorClass::Invalid,
        C::AllBrokersDown | C::BrokerNotAvailable | C::BrokerTransportFailure => {
            ErrorClass::BrokerNotAvailable
        }
        C::MessageTimedOut
        | C::RequestTimedOut
        | C::OperationTimedOut
        | C::QueueFull
        | C::LeaderNotAvailable
        | C::NotLeaderForPartition
        | C::NotEnoughReplicas
        | C::NotEnoughReplicasAfterAppend
        | C::NetworkException
        | C::CoordinatorLoadInProgress
        | C::CoordinatorNotAvailable
        | C::NotCoordinator
        | C::InProgress
        | C::Retry => ErrorClass::Retriable,
        _ => ErrorClass::Other,
    }
}

impl Error {
    /// The classification of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::TopicNotFound(_) | Error::PartitionNotFound(..) => {
                ErrorClass::UnknownTopicOrPartition
            }
            Error::IllegalState(_) => ErrorClass::IllegalState,
            Error::Authentication(_) => ErrorClass::Authentication,
            Error::Admin { code, .. } => classify(*code),
            Error::Kafka(e) => e
                .rdkafka_error_code()
                .map(classify)
                .unwrap_or(ErrorClass::Other),
            Error::InvalidConfig(_)
            | Error::InvalidOffset(_)
            | Error::InvalidTopic(..)
            | Error::InvalidPattern(..)
            | Error::Internal(_) => ErrorClass::Other,
        }
    }
}

/// Runs blocking librdkafka calls off the async runtime.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        // A panic's text is for the log, not for clients.
        tracing::error!(error = %e, "a blocking Kafka call panicked");
        Error::Internal("a Kafka call failed unexpectedly".into())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_error_keeps_librdkafkas_message_and_is_classified_once() {
        let timed_out = RecordError::from(KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut,
        ));
        assert_eq!(timed_out.class, ErrorClass::Retriable);
        assert_eq!(
            timed_out.to_string(),
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut).to_string()
        );
        let denied = RecordError::from(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed,
        ));
        assert_eq!(denied.class, ErrorClass::Authorization);
        // An error without a librdkafka code is still an error, of no known class.
        assert_eq!(
            RecordError::from(KafkaError::Canceled).class,
            ErrorClass::Other
        );
    }

    #[test]
    fn only_unwritten_batch_failures_are_retried_and_all_answer_as_librdkafka() {
        for code in [3, 5, 6, 19] {
            assert!(BatchFailure::unwritten(code));
        }
        // Timed out, written but under-replicated, corrupt, too large: never sent again.
        for code in [7, 20, 2, 10] {
            assert!(!BatchFailure::unwritten(code));
        }
        let not_leader = RecordError::from(BatchFailure::Broker(6));
        assert_eq!(not_leader.class, ErrorClass::Retriable);
        assert!(
            not_leader.message.contains("NotLeaderForPartition"),
            "{not_leader}"
        );
        let unknown = RecordError::from(BatchFailure::Broker(-42));
        assert_eq!(unknown.class, ErrorClass::Other);
        let lost = RecordError::from(BatchFailure::NotSent);
        assert_eq!(lost.class, ErrorClass::BrokerNotAvailable);
        assert_eq!(
            RecordError::from(BatchFailure::OutcomeUnknown).class,
            ErrorClass::Retriable
        );
        let topic = BatchFailure::lookup(&Error::TopicNotFound("t".into()));
        assert_eq!(
            RecordError::from(topic).class,
            ErrorClass::UnknownTopicOrPartition
        );
    }
}
