//! The v3 handlers' error: an [`ApiError`] (which owns every status and code) answered as
//! `application/json`, with v3's reading of a missing topic (404/40403, Kafka's
//! UnknownTopicOrPartitionException text) instead of v2's 40401.

use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::http::Api;
use crate::kafka;

/// An error of a v3 handler.
#[derive(Debug)]
pub struct V3Error(pub ApiError);

impl From<ApiError> for V3Error {
    fn from(e: ApiError) -> Self {
        V3Error(e)
    }
}

impl From<kafka::Error> for V3Error {
    fn from(e: kafka::Error) -> Self {
        V3Error(match e {
            kafka::Error::TopicNotFound(_) => ApiError::unknown_topic_partition(),
            e => ApiError::from(e),
        })
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        self.0.for_api(Api::KafkaV3).into_response()
    }
}

/// A v3 handler's result.
pub type V3Result = Result<Response, V3Error>;
