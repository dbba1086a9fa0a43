//! The OpenAPI 3.1 documents of both HTTP APIs, served at `GET /openapi.json` on each listener:
//! every route with its methods, path parameters, request media types and answers, and
//! Confluent's error shape. Built from one table per API ([`REST`], [`REGISTRY`]); a test sends
//! every documented method to every documented path, checks that the others are 405, and that
//! each router has as many routes as its table.

use serde_json::{json, Map, Value};

use crate::http::Api;

/// One operation of a path.
pub struct Op {
    pub method: &'static str,
    pub summary: &'static str,
    /// Request media types (none: no body).
    pub request: &'static [&'static str],
    /// The success status and its media type.
    pub ok: (u16, &'static str),
}

/// A path and its operations.
pub struct PathItem {
    pub path: &'static str,
    pub ops: &'static [Op],
}

const V2: &str = "application/vnd.kafka.v2+json";
const SR: &str = "application/vnd.schemaregistry.v1+json";
const PRODUCE: &[&str] = &[
    "application/vnd.kafka.binary.v2+json",
    "application/vnd.kafka.json.v2+json",
    "application/vnd.kafka.avro.v2+json",
    "application/vnd.kafka.jsonschema.v2+json",
    "application/vnd.kafka.protobuf.v2+json",
];
const CONTROL: &[&str] = &[V2, "application/json"];
const SR_BODY: &[&str] = &[
    SR,
    "application/vnd.schemaregistry+json",
    "application/json",
];
const RECORDS: &str = "application/vnd.kafka.binary.v2+json";

const fn op(
    method: &'static str,
    summary: &'static str,
    request: &'static [&'static str],
    ok: (u16, &'static str),
) -> Op {
    Op {
        method,
        summary,
        request,
        ok,
    }
}

const fn get(summary: &'static str, media: &'static str) -> Op {
    op("get", summary, &[], (200, media))
}

/// The REST Proxy v2 API (and the proxy's operations endpoints).
pub const REST: &[PathItem] = &[
    PathItem {
        path: "/",
        ops: &[
            get("Liveness (Confluent's root)", V2),
            op("post", "Liveness", &[], (200, V2)),
        ],
    },
    PathItem {
        path: "/healthy",
        ops: &[get("The process serves requests", V2)],
    },
    PathItem {
        path: "/ready",
        ops: &[get("Kafka answers metadata requests (503 otherwise)", V2)],
    },
    PathItem {
        path: "/metrics",
        ops: &[get("Prometheus metrics", "text/plain")],
    },
    PathItem {
        path: "/openapi.json",
        ops: &[get("This document", "application/json")],
    },
    PathItem {
        path: "/topics",
        ops: &[get("Topic names", V2)],
    },
    PathItem {
        path: "/topics/{topic}",
        ops: &[
            get("A topic's metadata", V2),
            op("post", "Produce to a topic", PRODUCE, (200, V2)),
        ],
    },
    PathItem {
        path: "/topics/{topic}/partitions",
        ops: &[get("A topic's partitions", V2)],
    },
    PathItem {
        path: "/topics/{topic}/partitions/{partition}",
        ops: &[
            get("A partition's metadata", V2),
            op("post", "Produce to a partition", PRODUCE, (200, V2)),
        ],
    },
    PathItem {
        path: "/topics/{topic}/partitions/{partition}/offsets",
        ops: &[get("A partition's beginning and end offsets", V2)],
    },
    PathItem {
        path: "/brokers",
        ops: &[get("Broker ids", V2)],
    },
    PathItem {
        path: "/consumers/{group}",
        ops: &[op("post", "Create a consumer instance", CONTROL, (200, V2))],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}",
        ops: &[op("delete", "Delete a consumer instance", &[], (204, V2))],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/subscription",
        ops: &[
            op(
                "post",
                "Subscribe to topics or a pattern",
                CONTROL,
                (204, V2),
            ),
            get("The subscribed topics", V2),
            op("delete", "Unsubscribe", &[], (204, V2)),
        ],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/assignments",
        ops: &[
            op("post", "Assign partitions", CONTROL, (204, V2)),
            get("The assigned partitions", V2),
        ],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/positions",
        ops: &[op(
            "post",
            "Seek to offsets or timestamps",
            CONTROL,
            (204, V2),
        )],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/positions/beginning",
        ops: &[op("post", "Seek to the beginning", CONTROL, (204, V2))],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/positions/end",
        ops: &[op("post", "Seek to the end", CONTROL, (204, V2))],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/offsets",
        ops: &[
            op("post", "Commit offsets", CONTROL, (200, V2)),
            op(
                "get",
                "Committed offsets (partitions in the body)",
                CONTROL,
                (200, V2),
            ),
        ],
    },
    PathItem {
        path: "/consumers/{group}/instances/{instance}/records",
        ops: &[get(
            "Read records (long poll; the Accept header picks the format)",
            RECORDS,
        )],
    },
];

/// The built-in Schema Registry's API (Confluent Schema Registry's).
pub const REGISTRY: &[PathItem] = &[
    PathItem {
        path: "/",
        ops: &[get("Liveness", SR)],
    },
    PathItem {
        path: "/openapi.json",
        ops: &[get("This document", "application/json")],
    },
    PathItem {
        path: "/schemas/types",
        ops: &[get("Schema types", SR)],
    },
    PathItem {
        path: "/contexts",
        ops: &[get("Contexts (the default one)", SR)],
    },
    PathItem {
        path: "/schemas",
        ops: &[get(
            "Subject versions (subjectPrefix, deleted, latestOnly, offset, limit)",
            SR,
        )],
    },
    PathItem {
        path: "/schemas/ids/{id}",
        ops: &[get("A schema by id", SR)],
    },
    PathItem {
        path: "/schemas/ids/{id}/schema",
        ops: &[get("A schema's text by id", SR)],
    },
    PathItem {
        path: "/schemas/ids/{id}/versions",
        ops: &[get("Subject versions using a schema", SR)],
    },
    PathItem {
        path: "/schemas/ids/{id}/subjects",
        ops: &[get("Subjects using a schema", SR)],
    },
    PathItem {
        path: "/subjects",
        ops: &[get("Subjects (subjectPrefix, deleted, deletedOnly)", SR)],
    },
    PathItem {
        path: "/subjects/{subject}",
        ops: &[
            op(
                "post",
                "Look a schema up under a subject",
                SR_BODY,
                (200, SR),
            ),
            op(
                "delete",
                "Delete a subject (soft, or permanent=true)",
                &[],
                (200, SR),
            ),
        ],
    },
    PathItem {
        path: "/subjects/{subject}/versions",
        ops: &[
            get("A subject's versions", SR),
            op("post", "Register a schema", SR_BODY, (200, SR)),
        ],
    },
    PathItem {
        path: "/subjects/{subject}/versions/{version}",
        ops: &[
            get("A subject version", SR),
            op("delete", "Delete a version", &[], (200, SR)),
        ],
    },
    PathItem {
        path: "/subjects/{subject}/versions/{version}/schema",
        ops: &[get("A version's schema text", SR)],
    },
    PathItem {
        path: "/subjects/{subject}/versions/{version}/referencedby",
        ops: &[get("Ids of schemas referencing a version", SR)],
    },
    PathItem {
        path: "/config",
        ops: &[
            get("The global compatibility level", SR),
            op("put", "Set the global level", SR_BODY, (200, SR)),
            op("delete", "Back to the default level", &[], (200, SR)),
        ],
    },
    PathItem {
        path: "/config/{subject}",
        ops: &[
            get("A subject's level", SR),
            op("put", "Set a subject's level", SR_BODY, (200, SR)),
            op("delete", "Remove a subject's level", &[], (200, SR)),
        ],
    },
    PathItem {
        path: "/mode",
        ops: &[
            get("The global mode", SR),
            op("put", "Set the global mode (force)", SR_BODY, (200, SR)),
        ],
    },
    PathItem {
        path: "/mode/{subject}",
        ops: &[
            get("A subject's mode", SR),
            op("put", "Set a subject's mode", SR_BODY, (200, SR)),
            op("delete", "Remove a subject's mode", &[], (200, SR)),
        ],
    },
    PathItem {
        path: "/compatibility/subjects/{subject}/versions/{version}",
        ops: &[op(
            "post",
            "Check a schema against a version",
            SR_BODY,
            (200, SR),
        )],
    },
    PathItem {
        path: "/compatibility/subjects/{subject}/versions",
        ops: &[op(
            "post",
            "Check a schema against every version, by the subject's level",
            SR_BODY,
            (200, SR),
        )],
    },
];

const V3_JSON: &str = "application/json";
const V3_BODY: &[&str] = &[V3_JSON];

/// The REST Proxy v3 API (served on the REST listeners).
pub const V3: &[PathItem] = &[
    PathItem {
        path: "/v3/clusters",
        ops: &[get("The cluster (a list of one)", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}",
        ops: &[get("The cluster", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers",
        ops: &[get("The brokers", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers/{broker_id}",
        ops: &[get("A broker", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers/{broker_id}/partition-replicas",
        ops: &[get("The replicas a broker holds", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/acls",
        ops: &[
            get("ACLs matching the query's filters (ANY by default)", V3_JSON),
            op(
                "post",
                "Create an ACL (201 + Location)",
                V3_BODY,
                (201, V3_JSON),
            ),
            op(
                "delete",
                "Delete the ACLs matching the filters (resource_type, pattern_type, operation and permission required)",
                &[],
                (200, V3_JSON),
            ),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/acls:batch",
        ops: &[op("post", "Create ACLs (204)", V3_BODY, (204, V3_JSON))],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers/{broker_id}/configs",
        ops: &[get("A broker's configs (`-`: every broker's)", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}",
        ops: &[
            get("A broker config", V3_JSON),
            op("put", "Set a broker config (204)", V3_BODY, (204, V3_JSON)),
            op("delete", "Reset a broker config (204)", &[], (204, V3_JSON)),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/brokers/{broker_id}/configs:alter",
        ops: &[op(
            "post",
            "Set and reset broker configs (204)",
            V3_BODY,
            (204, V3_JSON),
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/broker-configs",
        ops: &[get("The cluster-wide dynamic broker defaults", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/broker-configs/{name}",
        ops: &[
            get("A cluster-wide broker default", V3_JSON),
            op(
                "put",
                "Set a cluster-wide broker default (204)",
                V3_BODY,
                (204, V3_JSON),
            ),
            op(
                "delete",
                "Reset a cluster-wide broker default (204)",
                &[],
                (204, V3_JSON),
            ),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/broker-configs:alter",
        ops: &[op(
            "post",
            "Set and reset cluster-wide broker defaults (204)",
            V3_BODY,
            (204, V3_JSON),
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/configs",
        ops: &[get("A topic's configs (`-`: every topic's)", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/configs/{name}",
        ops: &[
            get("A topic config", V3_JSON),
            op("put", "Set a topic config (204)", V3_BODY, (204, V3_JSON)),
            op("delete", "Reset a topic config (204)", &[], (204, V3_JSON)),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/configs:alter",
        ops: &[op(
            "post",
            "Set and reset a topic's configs (204); `-`: many topics (204, or 207 with failures)",
            V3_BODY,
            (204, V3_JSON),
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}/reassignment",
        ops: &[get(
            "A partition's ongoing reassignment (`-` for topic or partition: lists)",
            V3_JSON,
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics",
        ops: &[
            get("The topics, internal ones included", V3_JSON),
            op(
                "post",
                "Create a topic (201 + Location; 200 with validate_only)",
                V3_BODY,
                (201, V3_JSON),
            ),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}",
        ops: &[
            get("A topic", V3_JSON),
            op(
                "patch",
                "Raise a topic's partition count",
                V3_BODY,
                (200, V3_JSON),
            ),
            op("delete", "Delete a topic (204)", &[], (204, V3_JSON)),
        ],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/records",
        ops: &[op(
            "post",
            "Produce a stream of records (chunked both ways: one delivery report per record, in order)",
            V3_BODY,
            (200, V3_JSON),
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/records:batch",
        ops: &[op(
            "post",
            "Produce up to api.v3.produce.batch.maximum.entries records with ids (207)",
            V3_BODY,
            (207, V3_JSON),
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/partitions",
        ops: &[get("A topic's partitions", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}",
        ops: &[get("A partition", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}/offset",
        ops: &[get(
            "A partition's earliest and latest offsets (offset_type=earliest_and_latest)",
            V3_JSON,
        )],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}/replicas",
        ops: &[get("A partition's replicas", V3_JSON)],
    },
    PathItem {
        path:
            "/v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}/replicas/{broker_id}",
        ops: &[get("A replica", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups",
        ops: &[get("The consumer groups", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}",
        ops: &[get("A consumer group", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/consumers",
        ops: &[get("A group's consumers", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/consumers/{consumer}",
        ops: &[get("A consumer", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/consumers/{consumer}/assignments",
        ops: &[get("A consumer's assigned partitions", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/consumers/{consumer}/assignments/{topic}/partitions/{partition}",
        ops: &[get("One assigned partition", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/lags",
        ops: &[get("Lags of the group's committed partitions", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/lags/{topic}/partitions/{partition}",
        ops: &[get("One partition's lag", V3_JSON)],
    },
    PathItem {
        path: "/v3/clusters/{cluster_id}/consumer-groups/{group}/lag-summary",
        ops: &[get("The group's largest and total lag", V3_JSON)],
    },
];

/// The document of `api`.
pub fn document(api: Api) -> Value {
    let (title, tables): (&str, &[&[PathItem]]) = match api {
        Api::KafkaV2 | Api::KafkaV3 => (
            "kafka-proxy REST API (Confluent REST Proxy v2 and v3)",
            &[REST, V3],
        ),
        Api::SchemaRegistry => (
            "kafka-proxy Schema Registry API (Confluent Schema Registry)",
            &[REGISTRY],
        ),
    };
    let mut paths = Map::new();
    for item in tables.iter().flat_map(|t| t.iter()) {
        let parameters: Vec<Value> = item
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut ops = Map::new();
        for op in item.ops {
            let mut operation = json!({
                "summary": op.summary,
                "responses": {
                    op.ok.0.to_string(): {
                        "description": "success",
                        "content": {op.ok.1: {"schema": {}}},
                    },
                    "default": {
                        "description": "an error in Confluent's shape",
                        "content": {api.media_type(): {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                },
            });
            if !parameters.is_empty() {
                operation["parameters"] = json!(parameters);
            }
            if !op.request.is_empty() {
                let content: Map<String, Value> = op
                    .request
                    .iter()
                    .map(|m| (m.to_string(), json!({"schema": {"type": "object"}})))
                    .collect();
                operation["requestBody"] = json!({"content": content});
            }
            ops.insert(op.method.to_string(), operation);
        }
        paths.insert(item.path.to_string(), Value::Object(ops));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": {"Error": {
            "type": "object",
            "required": ["error_code", "message"],
            "properties": {
                "error_code": {"type": "integer"},
                "message": {"type": "string"},
            },
        }}},
    })
}
