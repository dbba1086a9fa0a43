//! The scheme and authority clients use to reach the proxy: consumer instances' `base_uri` (v2)
//! and every v3 resource's `self` and `related` links.

use axum::http::HeaderMap;

use super::{guard, App};
use crate::http::error::ApiError;

/// Scheme and authority clients use to reach us, for an instance's `base_uri`:
/// `advertised.listeners`, else `host.name`, else the request's Host (400 unless it is a plain
/// `host[:port]`).
pub fn base_url(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &app.config.rest.advertised_url {
        return Ok(url.clone());
    }
    let host = guard::host(headers)?;
    Ok(match (&app.config.rest.host_name, host) {
        // Confluent: host.name with the listener's port, or no port if the request had none.
        (Some(name), Some(h)) => match h.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => {
                format!("http://{name}:{}", app.config.rest.listeners[0].port())
            }
            _ => format!("http://{name}"),
        },
        (Some(name), None) => format!("http://{name}"),
        (None, Some(h)) => format!("http://{h}"),
        (None, None) => format!("http://localhost:{}", app.config.rest.listeners[0].port()),
    })
}
