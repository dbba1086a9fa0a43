//! The HTTP edge's access control, built once from `config.edge` and installed by the one layer
//! stack ([`super::layers::stack`]) on both APIs: BASIC authentication against the credentials
//! file (`authentication.method=BASIC`), CORS (`access.control.allow.*`, preflights
//! answered), and per-principal rate limits ([`super::rate_limit`]). The authenticated user rides on the request as a [`Principal`] and is logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::{Api, ApiError};
use super::principal::{KafkaCredentials, Principal};
use crate::config::EdgeConfig;
use crate::credentials::{Credentials, CredentialsError, Verdict};

/// What the edge installs: each part only when configured.
#[derive(Clone, Default)]
pub struct Edge {
    pub auth: Option<Arc<BasicAuth>>,
    pub cors: Option<CorsLayer>,
    pub rate_limit: Option<Arc<super::rate_limit::RateLimit>>,
}

/// BASIC authentication: the accounts, and the challenge a 401 carries.
pub struct BasicAuth {
    credentials: Credentials,
    challenge: HeaderValue,
    /// Pass the user's credentials on to Kafka ([`KafkaCredentials`]).
    propagate: bool,
    /// `authentication.roles` (None: every user).
    allowed_roles: Option<Vec<String>>,
    /// `schema.registry.admin.roles` (None: every user allowed in).
    registry_admin_roles: Option<Vec<String>>,
}

/// Whether a registry request changes it. Lookups (`POST /subjects/{s}`) and compatibility
/// checks are reads that use POST; registering (`POST /subjects/{s}/versions`), PUT and DELETE
/// change it. Paths may start with `/contexts/{context}`.
fn registry_changes(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let segments = match segments.as_slice() {
                ["contexts", _, rest @ ..] => rest,
                all => all,
            };
            !(matches!(segments, ["subjects", _]) || segments.first() == Some(&"compatibility"))
        }
        _ => true,
    }
}

/// Why the edge could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("authentication.credentials.file: {0}")]
    Credentials(#[from] CredentialsError),
    #[error("{key}: {value:?} is not a valid {what}")]
    Invalid {
        key: &'static str,
        value: String,
        what: &'static str,
    },
}

impl Edge {
    pub fn from_config(config: &EdgeConfig) -> Result<Edge, EdgeError> {
        let auth = match (&config.basic_auth, &config.credentials_file) {
            (true, Some(path)) => Some(Arc::new(BasicAuth {
                propagate: config.propagate_principal,
                allowed_roles: config.allowed_roles.clone(),
                registry_admin_roles: config.registry_admin_roles.clone(),
                credentials: Credentials::load(path)?,
                challenge: HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm))
                    .map_err(|_| EdgeError::Invalid {
                        key: "authentication.realm",
                        value: config.realm.clone(),
                        what: "realm",
                    })?,
            })),
            _ => None,
        };
        let cors = if config.cors_origins.is_empty() {
            None
        } else {
            Some(cors_layer(config)?)
        };
        let rate_limit = config
            .rate_limit
            .map(|(rate, burst)| Arc::new(super::rate_limit::RateLimit::new(rate, burst)));
        Ok(Edge {
            auth,
            cors,
            rate_limit,
        })
    }
}

fn cors_layer(config: &EdgeConfig) -> Result<CorsLayer, EdgeError> {
    let origin = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let origins = config
            .cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| EdgeError::Invalid {
                    key: "access.control.allow.origin",
                    value: o.clone(),
                    what: "origin",
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(origins)
    };
    let methods = config
        .cors_methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| EdgeError::Invalid {
                key: "access.control.allow.methods",
                value: m.clone(),
                what: "method",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let headers = config
        .cors_headers
        .iter()
        .map(|h| {
            HeaderName::from_bytes(h.as_bytes()).map_err(|_| EdgeError::Invalid {
                key: "access.control.allow.headers",
                value: h.clone(),
                what: "header name",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(methods)
        .allow_headers(headers))
}

/// `user:password` from an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Option<(String, Vec<u8>)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Lets a request with valid BASIC credentials through (with its [`Principal`]); anything else is
/// 401 with the realm's challenge, in the API's error shape.
pub async fn authenticate(
    State((auth, api)): State<(Arc<BasicAuth>, Api)>,
    mut request: Request,
    next: Next,
) -> Response {
    // Probes answer without credentials (`rest/health.rs`).
    if matches!(request.uri().path(), "/healthy" | "/ready") {
        return next.run(request).await;
    }
    let given = basic_credentials(&request);
    let verdict = auth.credentials.check(
        given.as_ref().map(|(u, _)| u.as_str()),
        given.as_ref().map(|(_, p)| p.as_slice()),
    );
    match (verdict, given) {
        (Verdict::Accepted, Some((user, password))) => {
            tracing::debug!(principal = %user, method = %request.method(), path = %request.uri().path(), "authenticated");
            let admin_roles = auth
                .registry_admin_roles
                .as_ref()
                .filter(|_| api == Api::SchemaRegistry);
            if auth.allowed_roles.is_some() || admin_roles.is_some() {
                let roles = auth.credentials.roles(&user);
                let has = |wanted: &[String]| wanted.iter().any(|r| roles.contains(r));
                if auth.allowed_roles.as_deref().is_some_and(|w| !has(w)) {
                    tracing::info!(principal = %user, path = %request.uri().path(), "refused: no role authentication.roles allows");
                    return ApiError::forbidden().for_api(api).into_response();
                }
                if let Some(admin) = admin_roles {
                    if registry_changes(request.method(), request.uri().path()) && !has(admin) {
                        tracing::info!(principal = %user, method = %request.method(), path = %request.uri().path(), "refused: the registry is read-only for this user");
                        return ApiError::registry_read_only(&user, admin)
                            .for_api(api)
                            .into_response();
                    }
                }
            }
            if auth.propagate {
                // SASL credentials are text; a password that is not UTF-8 cannot reach Kafka.
                match String::from_utf8(password) {
                    Ok(password) => {
                        request.extensions_mut().insert(KafkaCredentials {
                            user: user.clone(),
                            password,
                        });
                    }
                    Err(_) => {
                        return ApiError::unauthenticated().for_api(api).into_response();
                    }
                }
            }
            request.extensions_mut().insert(Principal(user.clone()));
            let mut response = next.run(request).await;
            // For the access log, which runs outside this layer.
            response.extensions_mut().insert(Principal(user));
            response
        }
        (verdict, given) => {
            if verdict == Verdict::Wrong {
                tracing::info!(
                    user = given.as_ref().map_or("", |(u, _)| u.as_str()),
                    path = %request.uri().path(),
                    "refused BASIC credentials"
                );
            }
            let mut response = ApiError::unauthenticated().for_api(api).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth.challenge.clone());
            response
        }
    }
}

#[cfg(test)]
mod role_tests {
    use super::*;

    #[test]
    fn which_registry_requests_change_it() {
        for (method, path, changes) in [
            (Method::GET, "/subjects/s/versions", false),
            (Method::HEAD, "/schemas/ids/1", false),
            (Method::POST, "/subjects/s", false),
            (Method::POST, "/subjects/s/", false),
            (
                Method::POST,
                "/compatibility/subjects/s/versions/latest",
                false,
            ),
            (Method::POST, "/contexts/.c/subjects/s", false),
            (Method::POST, "/subjects/s/versions", true),
            (Method::POST, "/contexts/.c/subjects/s/versions", true),
            (Method::PUT, "/config", true),
            (Method::PUT, "/mode/s", true),
            (Method::DELETE, "/subjects/s", true),
            (Method::DELETE, "/config", true),
        ] {
            assert_eq!(registry_changes(&method, path), changes, "{method} {path}");
        }
    }
}
