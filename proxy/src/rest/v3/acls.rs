//! ACLs: `GET /acls` (filters in the query, ANY by default), `POST /acls` (201 with the new
//! ACL's URL in `Location`), `POST /acls:batch` (204) and `DELETE /acls` (the filters
//! resource_type, pattern_type, operation and permission are required; 200 with the ACLs
//! deleted), with Confluent's validation texts. Query enums are case-insensitive (an unknown
//! value is Confluent's 404); body enums are exact, as Jackson reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{cluster, json_body, list, ok, Json, Links};
use super::error::V3Result;
use crate::http::error::ApiError;
use crate::kafka::acls::{AclBinding, AclEnum, AclFilter, ANY, MATCH, UNKNOWN};
use crate::rest::{ApiPath, App};

/// Java's `URLEncoder.encode(v, "UTF-8")`, which Confluent's links use: letters, digits and
/// `.-*_` stay, a space is `+`, every other byte is `%XX`.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `?resource_type=..&resource_name=..&...`, in Confluent's order.
fn query_of(fields: [(&str, String); 7]) -> String {
    let pairs: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}

fn binding_query(a: &AclBinding) -> String {
    query_of([
        (
            "resource_type",
            AclEnum::ResourceType.name(a.resource_type).into(),
        ),
        ("resource_name", a.resource_name.clone()),
        (
            "pattern_type",
            AclEnum::PatternType.name(a.pattern_type).into(),
        ),
        ("principal", a.principal.clone()),
        ("host", a.host.clone()),
        ("operation", AclEnum::Operation.name(a.operation).into()),
        ("permission", AclEnum::Permission.name(a.permission).into()),
    ])
}

/// One ACL: `kind`, `metadata.self` (no resource name), then its seven fields.
fn acl_json(links: &Links, a: &AclBinding) -> Json {
    let self_url = format!("{}{}", links.url(&["acls"]), binding_query(a));
    Json::Object(vec![
        ("kind", json!("KafkaAcl").into()),
        (
            "metadata",
            Json::Object(vec![("self", json!(self_url).into())]),
        ),
        ("cluster_id", json!(links.cluster_id).into()),
        (
            "resource_type",
            json!(AclEnum::ResourceType.name(a.resource_type)).into(),
        ),
        ("resource_name", json!(a.resource_name).into()),
        (
            "pattern_type",
            json!(AclEnum::PatternType.name(a.pattern_type)).into(),
        ),
        ("principal", json!(a.principal).into()),
        ("host", json!(a.host).into()),
        (
            "operation",
            json!(AclEnum::Operation.name(a.operation)).into(),
        ),
        (
            "permission",
            json!(AclEnum::Permission.name(a.permission)).into(),
        ),
    ])
}

/// The four enums of a query, in Confluent's order of checks.
const QUERY_ENUMS: [(&str, AclEnum); 4] = [
    ("resource_type", AclEnum::ResourceType),
    ("pattern_type", AclEnum::PatternType),
    ("operation", AclEnum::Operation),
    ("permission", AclEnum::Permission),
];

/// A filter from the query. Enums absent take `default`; an UNKNOWN one (given, or absent
/// with an UNKNOWN default) is 400 with `unknown_text(name)`. Empty strings match anything.
fn filter_of(
    q: &BTreeMap<String, String>,
    default: i8,
    unknown_text: impl Fn(&str) -> String,
) -> Result<AclFilter, ApiError> {
    let mut codes = [0i8; 4];
    for (i, (name, kind)) in QUERY_ENUMS.iter().enumerate() {
        codes[i] = match q.get(*name) {
            None => default,
            Some(v) => kind.parse(v).ok_or_else(|| {
                ApiError::not_found_message(format!(
                    "The valid values for {} do not include '{v}'",
                    kind.class()
                ))
            })?,
        };
    }
    for (i, (name, _)) in QUERY_ENUMS.iter().enumerate() {
        if codes[i] == UNKNOWN {
            return Err(ApiError::bad_request_plain(unknown_text(name)));
        }
    }
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(AclFilter {
        resource_type: codes[0],
        resource_name: text("resource_name"),
        pattern_type: codes[1],
        principal: text("principal"),
        host: text("host"),
        operation: codes[2],
        permission: codes[3],
    })
}

/// The list's `self`: the query as understood.
fn filter_query(q: &BTreeMap<String, String>, f: &AclFilter) -> String {
    let text = |k: &str| q.get(k).cloned().unwrap_or_default();
    query_of([
        (
            "resource_type",
            AclEnum::ResourceType.name(f.resource_type).into(),
        ),
        ("resource_name", text("resource_name")),
        (
            "pattern_type",
            AclEnum::PatternType.name(f.pattern_type).into(),
        ),
        ("principal", text("principal")),
        ("host", text("host")),
        ("operation", AclEnum::Operation.name(f.operation).into()),
        ("permission", AclEnum::Permission.name(f.permission).into()),
    ])
}

/// GET /v3/clusters/{cluster_id}/acls
pub async fn list_acls(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let filter = filter_of(&q, ANY, |name| format!("{name} cannot be UNKNOWN"))?;
    let acls = app.kafka.admin.acls(&filter).await?;
    let self_url = format!("{}{}", links.url(&["acls"]), filter_query(&q, &filter));
    let data = acls.iter().map(|a| acl_json(&links, a)).collect();
    Ok(ok(&list("KafkaAclList", self_url, data)))
}

/// DELETE /v3/clusters/{cluster_id}/acls
pub async fn delete_acls(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let filter = filter_of(&q, UNKNOWN, |name| {
        format!("{name} cannot be unspecified or UNKNOWN")
    })?;
    let deleted = app.kafka.admin.delete_acls(&filter).await?;
    let data = Json::Array(deleted.iter().map(|a| acl_json(&links, a)).collect());
    Ok(ok(&Json::Object(vec![("data", data)])))
}

/// `POST /acls`'s body: all seven fields, enums by their exact names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAcl {
    resource_type: String,
    resource_name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

impl CreateAcl {
    /// The ACL, or Confluent's 400 for a field it cannot create.
    fn binding(self) -> Result<AclBinding, ApiError> {
        let code = |kind: AclEnum, name: &str, v: &str| {
            kind.names()
                .iter()
                .position(|n| *n == v)
                .map(|i| i as i8)
                .ok_or_else(|| {
                    ApiError::bad_request_plain(format!(
                        "Cannot deserialize value of type `{}` from String \"{v}\": not one of \
                         the values accepted for Enum class: [{}] ({name})",
                        kind.class(),
                        kind.names().join(", ")
                    ))
                })
        };
        let resource_type = code(AclEnum::ResourceType, "resource_type", &self.resource_type)?;
        let pattern_type = code(AclEnum::PatternType, "pattern_type", &self.pattern_type)?;
        let operation = code(AclEnum::Operation, "operation", &self.operation)?;
        let permission = code(AclEnum::Permission, "permission", &self.permission)?;
        let refuse = |text: String| Err(ApiError::bad_request_plain(text));
        if resource_type == ANY || resource_type == UNKNOWN {
            return refuse("resource_type cannot be ANY".into());
        }
        if matches!(pattern_type, ANY | MATCH | UNKNOWN) {
            return refuse(format!("pattern_type cannot be {}", self.pattern_type));
        }
        if operation == ANY || operation == UNKNOWN {
            return refuse("operation cannot be ANY".into());
        }
        if permission == ANY || permission == UNKNOWN {
            return refuse("permission cannot be ANY".into());
        }
        Ok(AclBinding {
            resource_type,
            resource_name: self.resource_name,
            pattern_type,
            principal: self.principal,
            host: self.host,
            operation,
            permission,
        })
    }
}

/// POST /v3/clusters/{cluster_id}/acls
pub async fn create_acl(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let request: CreateAcl = json_body(&app, &headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_null("Data is required."))?;
    let binding = request.binding()?;
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    app.kafka
        .admin
        .create_acls(std::slice::from_ref(&binding))
        .await?;
    let location = format!("{}{}", links.url(&["acls"]), binding_query(&binding));
    let location = HeaderValue::from_str(&location).map_err(|_| ApiError::internal())?;
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAclBatch {
    #[serde(default)]
    data: Option<Vec<CreateAcl>>,
}

/// POST /v3/clusters/{cluster_id}/acls:batch: every entry is checked, then all are created in
/// one request.
pub async fn create_acls(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let request: CreateAclBatch = json_body(&app, &headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_null("Data is required."))?;
    let entries = request
        .data
        .ok_or_else(|| ApiError::payload_error("Empty input provided. Data is required."))?;
    let bindings = entries
        .into_iter()
        .map(CreateAcl::binding)
        .collect::<Result<Vec<_>, _>>()?;
    cluster(&app, &cluster_id).await?;
    app.kafka.admin.create_acls(&bindings).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn links_encode_as_java_does() {
        assert_eq!(form_encode("User:alice *.x-y_z"), "User%3Aalice+*.x-y_z");
    }

    #[test]
    fn filters_and_their_refusals() {
        let any = |n: &str| format!("{n} cannot be UNKNOWN");
        let f = filter_of(
            &query(&[("resource_type", "topic"), ("host", "")]),
            ANY,
            any,
        )
        .unwrap();
        assert_eq!((f.resource_type, f.pattern_type, f.host), (2, ANY, None));
        let e = filter_of(&query(&[("operation", "unknown")]), ANY, any).unwrap_err();
        assert_eq!(
            (e.error_code, e.message.as_str()),
            (400, "operation cannot be UNKNOWN")
        );
        let e = filter_of(&query(&[("resource_type", "teapot")]), ANY, any).unwrap_err();
        assert_eq!(
            (e.error_code, e.message.as_str()),
            (
                404,
                "The valid values for ResourceType do not include 'teapot'"
            )
        );
        let required = |n: &str| format!("{n} cannot be unspecified or UNKNOWN");
        let e = filter_of(&query(&[("resource_type", "TOPIC")]), UNKNOWN, required).unwrap_err();
        assert_eq!(e.message, "pattern_type cannot be unspecified or UNKNOWN");
    }

    #[test]
    fn creations_and_their_refusals() {
        let acl = |rt: &str, pt: &str, op: &str, perm: &str| CreateAcl {
            resource_type: rt.into(),
            resource_name: "t".into(),
            pattern_type: pt.into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op.into(),
            permission: perm.into(),
        };
        let ok = acl("TOPIC", "LITERAL", "READ", "ALLOW").binding().unwrap();
        assert_eq!(
            (
                ok.resource_type,
                ok.pattern_type,
                ok.operation,
                ok.permission
            ),
            (2, 3, 3, 3)
        );
        for (bad, message) in [
            (
                acl("UNKNOWN", "LITERAL", "READ", "ALLOW"),
                "resource_type cannot be ANY",
            ),
            (
                acl("TOPIC", "MATCH", "READ", "ALLOW"),
                "pattern_type cannot be MATCH",
            ),
            (
                acl("TOPIC", "LITERAL", "ANY", "ALLOW"),
                "operation cannot be ANY",
            ),
            (
                acl("TOPIC", "LITERAL", "READ", "ANY"),
                "permission cannot be ANY",
            ),
        ] {
            assert_eq!(bad.binding().unwrap_err().message, message);
        }
        let lower = acl("topic", "LITERAL", "READ", "ALLOW")
            .binding()
            .unwrap_err();
        assert!(
            lower.message.contains("not one of the values"),
            "{}",
            lower.message
        );
        assert_eq!(
            binding_query(&ok),
            "?resource_type=TOPIC&resource_name=t&pattern_type=LITERAL&principal=User%3Aalice&host=*&operation=READ&permission=ALLOW"
        );
    }
}
