//! The HTTP edge's security, with Confluent's `kafka-rest.properties` keys: TLS of `https://`
//! listeners (`ssl.*`), client certificates, BASIC authentication (`authentication.*`) and CORS
//! (`access.control.*`), per-principal rate limits (`rate.limit.*`). Shared by the REST API and
//! the built-in registry.

use std::path::PathBuf;

use super::error::ConfigError;
use super::parse::{invalid, non_empty, parse_bool, parse_positive};

/// Whether `https://` listeners ask for a client certificate (`ssl.client.authentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    /// Asked for and checked against the truststore when given; a client without one is let in.
    Requested,
    /// Required: a client without a certificate the truststore's CAs signed cannot connect.
    Required,
}

/// The edge's security settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `ssl.keystore.location`: the `https://` listeners' certificate chain and private key, in
    /// one PEM file (`ssl.keystore.type=PEM`, the default here) or a PKCS12 store. JKS is refused
    /// with the way out.
    pub keystore: Option<PathBuf>,
    /// `ssl.keystore.type` PKCS12 (else PEM) and `ssl.keystore.password`.
    pub keystore_pkcs12: bool,
    pub keystore_password: String,
    /// `ssl.truststore.location`: CA certificates client certificates are checked against.
    pub truststore: Option<PathBuf>,
    /// `ssl.truststore.type` PKCS12 (else PEM) and `ssl.truststore.password`.
    pub truststore_pkcs12: bool,
    pub truststore_password: String,
    /// `ssl.client.authentication` (NONE, REQUESTED, REQUIRED), or Confluent's older
    /// `ssl.client.auth=true` (REQUIRED).
    pub client_auth: ClientAuth,
    /// `authentication.method=BASIC`: every request needs `Authorization: Basic` credentials
    /// from `authentication.credentials.file`. Default NONE.
    pub basic_auth: bool,
    /// `authentication.realm`, in the `WWW-Authenticate` challenge. Default `KafkaRest`.
    pub realm: String,
    /// `authentication.credentials.file`: `user: password[,role...]` lines (the format
    /// `mqtt.credentials.file` reads: Jetty's `PropertyFileLoginModule`).
    pub credentials_file: Option<PathBuf>,
    /// `confluent.rest.auth.propagate.method=JETTY_AUTH`: produce and consumer instances reach
    /// Kafka as the request's BASIC user, with its password as the SASL credentials (PLAIN or
    /// SCRAM, `client.sasl.mechanism`), instead of as the proxy. Default off.
    pub propagate_principal: bool,
    /// `authentication.roles`: the roles (from the credentials file) allowed to use either API;
    /// an authenticated user with none of them gets 403. None (`*`, the default): every user.
    pub allowed_roles: Option<Vec<String>>,
    /// `schema.registry.admin.roles`: the roles that may change the built-in registry (register,
    /// delete, config, mode); other users allowed in may only read it. None (`*`, the default):
    /// every user allowed in, as Confluent's Schema Registry with BASIC authentication.
    pub registry_admin_roles: Option<Vec<String>>,
    /// `kafka.principal.clients.max`: how many principals keep a producer at once; the least
    /// recently used one is closed to make room. Default 32.
    pub principal_clients_max: usize,
    /// `access.control.allow.origin`: origins allowed by CORS (comma list, or `*`). Empty: no
    /// CORS headers, as Confluent.
    pub cors_origins: Vec<String>,
    /// `access.control.allow.methods`. Default `GET,POST,PUT,DELETE,HEAD` (Confluent's Jetty
    /// filter's default).
    pub cors_methods: Vec<String>,
    /// `access.control.allow.headers`. Default `X-Requested-With,Content-Type,Accept,Origin`.
    pub cors_headers: Vec<String>,
    /// `rate.limit.enable`: requests per principal (the BASIC user; unauthenticated requests
    /// share one) are limited to `rate.limit.permits.per.sec` (default 50, Confluent's), in
    /// bursts of up to `rate.limit.burst` (default: the rate). Over it: 429 with `Retry-After`.
    pub rate_limit: Option<(u32, u32)>,
    rate_limit_on: bool,
    permits_per_sec: u32,
    burst: Option<u32>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        let list = |s: &str| s.split(',').map(str::to_string).collect();
        EdgeConfig {
            keystore: None,
            keystore_pkcs12: false,
            keystore_password: String::new(),
            truststore: None,
            truststore_pkcs12: false,
            truststore_password: String::new(),
            client_auth: ClientAuth::None,
            basic_auth: false,
            realm: "KafkaRest".into(),
            credentials_file: None,
            propagate_principal: false,
            allowed_roles: None,
            registry_admin_roles: None,
            principal_clients_max: 32,
            cors_origins: Vec::new(),
            cors_methods: list("GET,POST,PUT,DELETE,HEAD"),
            cors_headers: list("X-Requested-With,Content-Type,Accept,Origin"),
            rate_limit: None,
            rate_limit_on: false,
            permits_per_sec: 50,
            burst: None,
        }
    }
}

/// A role list: `*` (None: every authenticated user) or roles separated by commas.
fn roles(key: &str, value: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let roles = list(value);
    if roles.iter().any(|r| r == "*") {
        return if roles.len() == 1 {
            Ok(None)
        } else {
            Err(invalid(key, value, "`*` stands alone"))
        };
    }
    if roles.is_empty() {
        return Err(invalid(
            key,
            value,
            "expected `*` or a comma-separated list of roles",
        ));
    }
    Ok(Some(roles))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl EdgeConfig {
    /// Takes `key` when it is one of these settings (false: not one of them).
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            "ssl.keystore.location" => self.keystore = non_empty(value).map(PathBuf::from),
            "ssl.truststore.location" => self.truststore = non_empty(value).map(PathBuf::from),
            "ssl.keystore.type" | "ssl.truststore.type" => {
                let pkcs12 = match value.trim().to_ascii_uppercase().as_str() {
                    "" | "PEM" => false,
                    "PKCS12" => true,
                    "JKS" => {
                        return Err(invalid(
                            k,
                            value,
                            "JKS stores are not read; convert with `keytool -importkeystore -srckeystore store.jks -destkeystore store.p12 -deststoretype PKCS12` and use PKCS12",
                        ))
                    }
                    _ => return Err(invalid(k, value, "expected PEM or PKCS12")),
                };
                if k == "ssl.keystore.type" {
                    self.keystore_pkcs12 = pkcs12;
                } else {
                    self.truststore_pkcs12 = pkcs12;
                }
            }
            "ssl.keystore.password" => self.keystore_password = value.to_string(),
            "ssl.truststore.password" => self.truststore_password = value.to_string(),
            // A PEM key must not be encrypted; a PKCS12 store's key is opened with the store's
            // password, as Java's does when the two are the same.
            "ssl.key.password" => {}
            "ssl.client.authentication" => {
                self.client_auth = match value.trim().to_ascii_uppercase().as_str() {
                    "NONE" => ClientAuth::None,
                    "REQUESTED" => ClientAuth::Requested,
                    "REQUIRED" => ClientAuth::Required,
                    _ => return Err(invalid(k, value, "expected NONE, REQUESTED or REQUIRED")),
                }
            }
            "ssl.client.auth" => {
                self.client_auth = match value.trim() {
                    "true" => ClientAuth::Required,
                    "false" => ClientAuth::None,
                    _ => return Err(invalid(k, value, "expected true or false")),
                }
            }
            "authentication.method" => {
                self.basic_auth = match value.trim().to_ascii_uppercase().as_str() {
                    "NONE" | "" => false,
                    "BASIC" => true,
                    _ => return Err(invalid(k, value, "expected NONE or BASIC")),
                }
            }
            "authentication.realm" => self.realm = value.trim().to_string(),
            "authentication.roles" => self.allowed_roles = roles(k, value)?,
            "schema.registry.admin.roles" => self.registry_admin_roles = roles(k, value)?,
            "authentication.credentials.file" => {
                self.credentials_file = non_empty(value).map(PathBuf::from)
            }
            "confluent.rest.auth.propagate.method" => {
                self.propagate_principal = match value.trim().to_ascii_uppercase().as_str() {
                    "" | "NONE" => false,
                    "JETTY_AUTH" => true,
                    "SSL" => {
                        return Err(invalid(
                            k,
                            value,
                            "SSL (client certificates passed on to Kafka) is not supported: \
                             the proxy never holds its clients' private keys; use JETTY_AUTH \
                             (BASIC users as SASL users)",
                        ))
                    }
                    _ => return Err(invalid(k, value, "expected JETTY_AUTH or NONE")),
                }
            }
            "kafka.principal.clients.max" => self.principal_clients_max = parse_positive(k, value)?,
            "access.control.allow.origin" => self.cors_origins = list(value),
            "access.control.allow.methods" => self.cors_methods = list(value),
            "access.control.allow.headers" => self.cors_headers = list(value),
            "rate.limit.enable" => self.rate_limit_on = parse_bool(k, value)?,
            "rate.limit.permits.per.sec" => self.permits_per_sec = parse_positive(k, value)?,
            "rate.limit.burst" => self.burst = Some(parse_positive(k, value)?),
            _ => return Ok(false),
        }
        self.rate_limit = self.rate_limit_on.then(|| {
            (
                self.permits_per_sec,
                self.burst.unwrap_or(self.permits_per_sec),
            )
        });
        Ok(true)
    }

    /// Checks across keys: BASIC needs a credentials file; https listeners need a keystore; a
    /// client certificate needs a truststore.
    pub(super) fn check(&self, https: bool) -> Result<(), ConfigError> {
        for (key, set) in [
            ("authentication.roles", self.allowed_roles.is_some()),
            (
                "schema.registry.admin.roles",
                self.registry_admin_roles.is_some(),
            ),
        ] {
            if set && !self.basic_auth {
                return Err(invalid(
                    key,
                    "roles",
                    "roles come from authentication.credentials.file: needs authentication.method=BASIC",
                ));
            }
        }
        if self.propagate_principal && !self.basic_auth {
            return Err(invalid(
                "confluent.rest.auth.propagate.method",
                "JETTY_AUTH",
                "needs authentication.method=BASIC (the users whose credentials reach Kafka)",
            ));
        }
        if self.basic_auth && self.credentials_file.is_none() {
            return Err(invalid(
                "authentication.method",
                "BASIC",
                "needs authentication.credentials.file",
            ));
        }
        if https && self.keystore.is_none() {
            return Err(invalid(
                "listeners",
                "https://...",
                "an https listener needs ssl.keystore.location",
            ));
        }
        if self.client_auth != ClientAuth::None && self.truststore.is_none() {
            return Err(invalid(
                "ssl.client.authentication",
                "REQUESTED/REQUIRED",
                "needs ssl.truststore.location (the CAs client certificates are checked against)",
            ));
        }
        Ok(())
    }
}
