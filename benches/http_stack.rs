//! The per-request cost of the HTTP layer stack both front ends share (`http/layers.rs`): one
//! small POST through the composed stack to a handler that answers at once, against the same
//! handler on a bare router. Single-record produce pays this on every record.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_proxy::http::body::BodyLimits;
use kafka_proxy::http::edge::Edge;
use kafka_proxy::http::layers::{self, StackSettings};
use kafka_proxy::http::Api;
use tower::ServiceExt;

/// The proxy's allocator (`proxy/src/main.rs`), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn routes() -> Router {
    Router::new().route(
        "/topics/{topic}",
        post(|| async { r#"{"offsets":[{"partition":0,"offset":1}]}"# }),
    )
}

fn request() -> Request<Body> {
    Request::post("/topics/bench")
        .header("content-type", "application/vnd.kafka.binary.v2+json")
        .body(Body::from(r#"{"records":[{"value":"aGVsbG8="}]}"#))
        .expect("a valid request")
}

fn http_stack(c: &mut Criterion) {
    // The proxy's metrics recorder, as in the binary: the stack records every request's metrics.
    kafka_proxy::telemetry::install().expect("the metrics recorder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let settings = StackSettings {
        api: Api::KafkaV2,
        body: BodyLimits {
            max_bytes: 1 << 20,
            timeout: Duration::from_secs(30),
        },
        max_concurrent_requests: 1024,
        access_log: false,
    };
    let stacked = layers::before_routing(layers::stack(routes(), settings, &Edge::default()));
    let bare = routes();
    let mut group = c.benchmark_group("http_stack");
    group.throughput(Throughput::Elements(1));
    group.bench_function("post_through_the_stack", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = stacked.clone().oneshot(request()).await.expect("answered");
                assert_eq!(response.status(), 200);
            })
        })
    });
    group.bench_function("post_to_a_bare_router", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = bare.clone().oneshot(request()).await.expect("answered");
                assert_eq!(response.status(), 200);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, http_stack);
criterion_main!(benches);
