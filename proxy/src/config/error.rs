//! `ConfigError`: why a configuration was rejected.

/// Why a configuration was rejected. Always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    #[error("invalid value {value:?} for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("missing required configuration `{0}`")]
    Missing(&'static str),
    #[error("cannot read config file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}
