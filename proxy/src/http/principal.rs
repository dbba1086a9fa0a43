//! Who a request is: the BASIC user ([`Principal`], set by authentication), else the subject of
//! its TLS connection's client certificate ([`TlsPeer`], set by the server per connection). A
//! leaf of `http/`, read by authentication, rate limits and the access log.

use std::sync::Arc;

/// The user a request authenticated as (BASIC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

/// The BASIC user's name and password, when they are to reach Kafka as its SASL credentials
/// (`confluent.rest.auth.propagate.method=JETTY_AUTH`); set by authentication, read by the
/// handlers that create Kafka clients.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for KafkaCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "KafkaCredentials({})", self.user)
    }
}

/// The subject of the client certificate of the request's TLS connection, if any (set by the
/// server for each connection of an `https://` listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer(pub Option<Arc<str>>);

/// Who a request is: the BASIC user, else the client certificate's subject.
pub fn principal_of(extensions: &axum::http::Extensions) -> Option<&str> {
    extensions
        .get::<Principal>()
        .map(|p| p.0.as_str())
        .or_else(|| extensions.get::<TlsPeer>().and_then(|p| p.0.as_deref()))
}
