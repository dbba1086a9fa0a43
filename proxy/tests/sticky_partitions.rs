//! Key-less records and the batch engine's sticky partition, in a test binary of its own: the
//! test reads the proxy's batch counters, which are process-wide (one metrics recorder), so
//! other tests' proxies producing in the same process would add their Produce requests' batches
//! (it failed so once, 21 batches in 16 Produce requests, beside `produce.rs`'s other tests).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// Key-less records go to the partition of the Produce request being gathered (the Java client's
/// sticky partitioner): requests one at a time take the partitions in turn, and requests merged
/// into one Produce request share its partition, so it carries one record batch.
// The proxy runs in this test's runtime: one worker (the proxy's default on 2 cores), so no
// request is given its partition while a Produce request closes on another thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn keyless_records_share_the_partition_of_the_produce_request_being_gathered() {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 4;
    let proxy = Proxy::start().await;
    let topic = unique("sticky");
    create_topic(&topic, 4).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let body = json!({"records": (0..5).map(|i| json!({"value": i})).collect::<Vec<_>>()});
    let partition_of = |reply: &serde_json::Value| -> i64 {
        let offsets = reply["offsets"].as_array().unwrap();
        let p = offsets[0]["partition"].as_i64().unwrap();
        for o in offsets {
            assert!(o["error_code"].is_null(), "{reply}");
            assert_eq!(
                o["partition"].as_i64(),
                Some(p),
                "one partition per request: {reply}"
            );
        }
        p
    };

    // One at a time (each client once, on its kept-open connection): every request closes a
    // Produce request of its own, so each takes the next partition.
    let clients: Vec<reqwest::Client> = (0..CLIENTS).map(|_| http()).collect();
    // A first request learns the topic's leaders: a retry there (a new topic not served yet)
    // would close a second Produce request and skip a partition in the sequence.
    post_json(&clients[0], &url, &body).await;
    let mut sequence = Vec::new();
    for client in &clients {
        sequence.push(partition_of(&post_json(client, &url, &body).await));
    }
    for pair in sequence.windows(2) {
        assert_eq!(
            pair[1],
            (pair[0] + 1) % 4,
            "partitions in turn: {sequence:?}"
        );
    }

    // All at once: requests arriving while a Produce request is in flight are merged into the
    // next one, and share its partition.
    let metrics = |text: &str, name: &str| sample(text, name, &[]).unwrap_or(0.0);
    let before = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (url, body) = (url.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let reply = post_json(&client, &url, &body).await;
                    assert_eq!(reply["offsets"].as_array().unwrap().len(), 5);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let after = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    let produces = metrics(&after, "kafka_proxy_batch_requests_total")
        - metrics(&before, "kafka_proxy_batch_requests_total");
    let batches = metrics(&after, "kafka_proxy_batch_partitions_total")
        - metrics(&before, "kafka_proxy_batch_partitions_total");
    let requests = (CLIENTS * ROUNDS) as f64;
    assert!(
        produces < requests,
        "{requests} concurrent requests were merged into fewer Produce requests: {produces}"
    );
    assert_eq!(
        batches, produces,
        "one record batch per Produce request ({produces} requests, {batches} batches)"
    );
    // The first request, one per client one at a time, then ROUNDS each at once.
    let total = 5 * (1 + CLIENTS * (ROUNDS + 1));
    let stored = read_all(&topic, 4, total, Duration::from_secs(20));
    assert_eq!(stored.len(), total);
    proxy.stop().await;
}

/// POSTs a json produce request on `client`'s kept-open connection; the 200 answer's body.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let r = client
        .post(url)
        .header("content-type", JSON)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}
