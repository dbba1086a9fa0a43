//! What the two HTTP front ends (the REST Proxy API in `rest/`, the Schema Registry API in
//! `registry_api.rs`) share: the one error type, the request-level layer stack, the edge's
//! access control (BASIC, CORS, per-principal rate limits), the path and body extractors, and the server under them.

pub mod body;
pub mod concurrency;
pub mod edge;
pub mod error;
pub mod extract;
pub mod idle;
pub mod layers;
pub mod observe;
pub mod principal;
pub mod protocol;
pub mod rate_limit;
pub mod server;

pub use error::{Api, ApiError};
