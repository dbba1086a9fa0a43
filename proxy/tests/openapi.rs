//! The OpenAPI documents (`GET /openapi.json`) match the routes (issue 16, item 3): every
//! documented method of every documented path reaches a handler (not the 404/405 fallbacks),
//! every other method of those paths is 405, and each router has as many routes as its
//! document has paths.

mod common;

use common::*;
use serde_json::Value;

/// A path with its parameters filled in (the cluster's id and broker from the proxy's v3 API).
fn concrete(path: &str, cluster: &str, broker: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{cluster_id}" => cluster,
            "{broker_id}" => broker,
            "{topic}" => "openapi-probe-topic",
            "{partition}" => "0",
            "{group}" => "openapi-probe-group",
            "{consumer}" => "openapi-probe-consumer",
            "{instance}" => "openapi-probe-instance",
            "{subject}" => "openapi-probe-subject",
            "{version}" => "1",
            "{id}" => "1",
            "{name}" => "retention.ms",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn check(base: &str, document: &Value, cluster: &str, broker: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    for (path, ops) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            let documented = ops.get(method).is_some();
            let url = format!("{base}{}", concrete(path, cluster, broker));
            let request = http()
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("content-type", "application/vnd.kafka.v2+json");
            let r = send(request).await;
            // The router's own answers for a path or method it does not have. v3 resources
            // answer their own not-found cases with the same body (Jersey's), but as
            // `application/json`, which the router's fallback (v2's media type) never is.
            let fallback = r.status == 405
                || (r.status == 404
                    && r.content_type.as_deref() != Some("application/json")
                    && serde_json::from_str::<Value>(&r.text)
                        .is_ok_and(|b| b["error_code"] == 404));
            if documented && fallback {
                wrong.push(format!(
                    "{method} {path}: documented, but {} {}",
                    r.status, r.text
                ));
            }
            if !documented && r.status != 405 {
                wrong.push(format!("{method} {path}: not documented, but {}", r.status));
            }
        }
    }
    wrong
}

fn route_count(source: &str) -> usize {
    source.matches(".route(").count()
}

#[tokio::test]
async fn documents_match_the_routes() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let sr = proxy.registry_url.clone().unwrap();
    wait_for(&format!("{sr}/subjects")).await;
    // The v3 paths need the cluster's real id and a real broker (others answer 404).
    let clusters = get(&format!("{}/v3/clusters", proxy.url), "application/json").await;
    let cluster = clusters.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let brokers = get(
        &format!("{}/v3/clusters/{cluster}/brokers", proxy.url),
        "application/json",
    )
    .await;
    let broker = brokers.json()["data"][0]["broker_id"].to_string();
    let rest_routes = [
        include_str!("../src/rest/mod.rs"),
        include_str!("../src/rest/v3/mod.rs"),
    ]
    .concat();
    for (base, source) in [
        (proxy.url.clone(), rest_routes.as_str()),
        (sr.clone(), include_str!("../src/registry_api.rs")),
    ] {
        let r = get(&format!("{base}/openapi.json"), "application/json").await;
        assert_eq!(r.status, 200, "{r:?}");
        let document = r.json();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            document["paths"].as_object().unwrap().len(),
            route_count(source),
            "{base}: every route of the router is documented, and nothing else"
        );
        let wrong = check(&base, &document, &cluster, &broker).await;
        assert!(wrong.is_empty(), "{base}:\n{}", wrong.join("\n"));
    }
    proxy.stop().await;
}
