//! `kafka::Error`: what can go wrong talking to Kafka, and the one function that classifies
//! librdkafka error codes.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

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

/// How a Kafka failure should be reported, independent of HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Authentication,
    Authorization,
    UnknownTopicOrPartition,
    IllegalState,
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
}
