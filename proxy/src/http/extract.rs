//! Extractors that refuse in the API's own error shape (the [`Api`] the layer stack installs)
//! rather than with axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::body::{self, BodyLimits};
use super::error::{Api, ApiError};

/// The API a request is for, as [`super::layers::stack`] installs it.
fn api_of(parts: &Parts) -> Api {
    parts
        .extensions
        .get::<Api>()
        .copied()
        .unwrap_or(Api::KafkaV2)
}

/// Path parameters. A segment that does not decode (e.g. invalid UTF-8) is a JSON 404, as
/// Jersey answers, rather than axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(_) => Err(ApiError::not_found().for_api(api_of(parts))),
        }
    }
}

/// A whole request body, read by [`body::read`] under the stack's [`BodyLimits`].
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, payload) = req.into_parts();
        let limits = *parts
            .extensions
            .get::<BodyLimits>()
            .expect("the layer stack installs BodyLimits");
        body::read(&parts.headers, payload, limits)
            .await
            .map(ApiBody)
            .map_err(|e| e.for_api(api_of(&parts)))
    }
}
