//! Content negotiation for v2: which Content-Types a request may carry and which embedded format
//! an `Accept` header selects.

use axum::http::{header, HeaderMap};

use crate::formats::EmbeddedFormat;
use crate::http::error::ApiError;

const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// The bare, lower-cased media type of a header value (parameters dropped).
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `application/vnd.kafka.<format>.v2+json` -> the format.
fn embedded(media: &str) -> Option<EmbeddedFormat> {
    let name = media
        .strip_prefix("application/vnd.kafka.")?
        .strip_suffix(".v2+json")?;
    EmbeddedFormat::from_name(name)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| media_type(v.to_str().unwrap_or("invalid")))
}

/// The format of a produce request. Only the embedded types are accepted; a request without a
/// Content-Type is binary (Confluent's highest-weighted reader).
pub fn produce_format(headers: &HeaderMap) -> Result<EmbeddedFormat, ApiError> {
    match content_type(headers) {
        None => Ok(EmbeddedFormat::Binary),
        Some(ct) => embedded(&ct).ok_or_else(ApiError::unsupported_media_type),
    }
}

/// Checks the Content-Type of a consumer-control request: `vnd.kafka.v2+json`, an embedded type,
/// or plain `application/json` (which Confluent rejects with 415; see the README), or none.
pub fn control_body(headers: &HeaderMap) -> Result<(), ApiError> {
    match content_type(headers) {
        None => Ok(()),
        Some(ct) if ct == V2_JSON || ct == "application/json" || embedded(&ct).is_some() => Ok(()),
        Some(_) => Err(ApiError::unsupported_media_type()),
    }
}

/// The format a GET records asks for, checked against the instance's format.
///
/// An embedded type must match the instance's family (406/40601 otherwise). A wildcard,
/// `vnd.kafka.v2+json`, or no `Accept` reads in the instance's own format. Anything else gets a
/// bodiless 406.
pub fn records_format(
    headers: &HeaderMap,
    instance: EmbeddedFormat,
) -> Result<EmbeddedFormat, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(instance);
    };
    let accept = accept.to_str().map_err(|_| ApiError::not_acceptable())?;
    for range in accept.split(',') {
        let media = media_type(range);
        if range.contains("q=0") && !range.contains("q=0.") {
            continue; // explicitly not acceptable
        }
        if let Some(format) = embedded(&media) {
            if format.family() != instance.family() {
                return Err(ApiError::format_mismatch());
            }
            return Ok(instance);
        }
        if media == V2_JSON || media == "*/*" || media == "application/*" {
            return Ok(instance);
        }
    }
    Err(ApiError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn produce_accepts_only_embedded_types() {
        let ct = |v| produce_format(&headers(header::CONTENT_TYPE, v));
        assert_eq!(
            ct("application/vnd.kafka.json.v2+json").unwrap(),
            EmbeddedFormat::Json
        );
        assert_eq!(
            ct("application/vnd.kafka.binary.v2+json; charset=utf-8").unwrap(),
            EmbeddedFormat::Binary
        );
        for bad in [
            "application/json",
            "application/vnd.kafka.v2+json",
            "application/octet-stream",
        ] {
            assert_eq!(ct(bad).unwrap_err().error_code, 415, "{bad}");
        }
        assert_eq!(
            produce_format(&HeaderMap::new()).unwrap(),
            EmbeddedFormat::Binary
        );
    }

    #[test]
    fn control_rejects_form_bodies() {
        let ct = |v| control_body(&headers(header::CONTENT_TYPE, v));
        assert!(ct("application/vnd.kafka.v2+json").is_ok());
        assert!(ct("application/vnd.kafka.binary.v2+json").is_ok());
        assert_eq!(
            ct("application/x-www-form-urlencoded")
                .unwrap_err()
                .error_code,
            415
        );
    }

    #[test]
    fn accept_selects_or_rejects() {
        let acc = |v, f| records_format(&headers(header::ACCEPT, v), f);
        use EmbeddedFormat::*;
        assert_eq!(
            acc("application/vnd.kafka.binary.v2+json", Binary).unwrap(),
            Binary
        );
        assert_eq!(acc("*/*", Json).unwrap(), Json);
        assert_eq!(acc("application/vnd.kafka.v2+json", Json).unwrap(), Json);
        assert_eq!(
            acc("application/vnd.kafka.json.v2+json", Binary)
                .unwrap_err()
                .error_code,
            40601
        );
        assert_eq!(
            acc("application/vnd.kafka.protobuf.v2+json", Avro).unwrap(),
            Avro
        );
        let e = acc("text/plain", Binary).unwrap_err();
        assert_eq!((e.status.as_u16(), e.error_code), (406, 0));
        assert_eq!(records_format(&HeaderMap::new(), Json).unwrap(), Json);
    }
}
