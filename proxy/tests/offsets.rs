//! Positions and offsets: seeks, commits (explicit, body-less, auto) and committed offsets.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn positions_and_illegal_states() {
    let proxy = Proxy::start().await;
    let topic = unique("positions");
    create_topic(&topic, 2).await;
    produce_json(
        &proxy,
        &topic,
        0,
        &(0..6).map(|i| json!(i)).collect::<Vec<_>>(),
    )
    .await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let p0 = json!({"partitions": [{"topic": topic, "partition": 0}]});

    // Seeking an unassigned partition is illegal; so is mixing assign and subscribe.
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]});
    post(&format!("{base}/positions"), V2, &seek)
        .await
        .assert_error(409, 40903);
    post(&format!("{base}/positions/end"), V2, &p0)
        .await
        .assert_error(409, 40903);
    post(&format!("{base}/assignments"), V2, &p0).await;
    post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": [topic]}),
    )
    .await
    .assert_error(409, 40903);

    let r = post(&format!("{base}/positions"), V2, &seek).await;
    assert_eq!(r.status, 204, "{r:?}");
    let got = read_records(&base, JSON, 3, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&got), vec![3, 4, 5]);
    assert_eq!(
        post(&format!("{base}/positions/beginning"), V2, &p0)
            .await
            .status,
        204
    );
    let got = read_records(&base, JSON, 6, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&got), vec![0, 1, 2, 3, 4, 5]);
    // After seeking to the end only new records arrive, even though the last batch held 6.
    assert_eq!(
        post(&format!("{base}/positions/end"), V2, &p0).await.status,
        204
    );
    produce_json(&proxy, &topic, 0, &[json!("new")]).await;
    let got = read_records(&base, JSON, 1, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&got), vec![6]);
    // Timestamps: everything so far is older than "now + 1h", so seeking there goes to the end.
    let later = humantime_now_plus_hours(1);
    let ts = json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": later}]});
    assert_eq!(
        post(&format!("{base}/positions"), V2, &ts).await.status,
        204
    );
    let ts0 = json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "2000-01-01T00:00:00Z"}]});
    assert_eq!(
        post(&format!("{base}/positions"), V2, &ts0).await.status,
        204
    );
    let got = read_records(&base, JSON, 7, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&got), vec![0, 1, 2, 3, 4, 5, 6]);

    // DELETE subscription clears a manual assignment too; reading then is an illegal state.
    assert_eq!(
        send(http().delete(format!("{base}/subscription")))
            .await
            .status,
        204
    );
    assert_eq!(
        get(&format!("{base}/assignments"), V2).await.json(),
        json!({"partitions": []})
    );
    get(&format!("{base}/records"), JSON)
        .await
        .assert_error(409, 40903);
    proxy.stop().await;
}

fn humantime_now_plus_hours(h: u64) -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(h * 3600);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[tokio::test]
async fn commits_are_offset_plus_one_and_get_offsets_returns_next_to_read() {
    let proxy = Proxy::start().await;
    let topic = unique("commits");
    create_topic(&topic, 2).await;
    produce_json(&proxy, &topic, 0, &[json!(0), json!(1), json!(2)]).await;
    let group = unique("g");
    let base = create_consumer(
        &proxy,
        &group,
        json!({"format": "json", "auto.commit.enable": "false"}),
    )
    .await;
    let both =
        json!({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]});
    post(&format!("{base}/assignments"), V2, &both).await;

    // Nothing committed yet: partitions are omitted.
    let r = send(
        http()
            .get(format!("{base}/offsets"))
            .header("content-type", V2)
            .body(both.to_string()),
    )
    .await;
    assert_eq!(r.json(), json!({"offsets": []}));
    // No body: 404/40402.
    send(http().get(format!("{base}/offsets")))
        .await
        .assert_error(404, 40402);

    let commit = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 1}]});
    let r = post(&format!("{base}/offsets"), V2, &commit).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = send(
        http()
            .get(format!("{base}/offsets"))
            .header("content-type", V2)
            .body(both.to_string()),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2, "metadata": ""}]})
    );

    // A body-less commit commits what was delivered to the client.
    post(
        &format!("{base}/positions/beginning"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let got = read_records(&base, JSON, 3, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&got), vec![0, 1, 2]);
    let r = send(
        http()
            .post(format!("{base}/offsets"))
            .header("content-type", V2),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = send(
        http()
            .get(format!("{base}/offsets"))
            .header("content-type", V2)
            .body(both.to_string()),
    )
    .await;
    assert_eq!(r.json()["offsets"][0]["offset"], 3);

    // A new instance in the group resumes after the committed records.
    send(http().delete(&base)).await;
    produce_json(&proxy, &topic, 0, &[json!(3)]).await;
    let next = create_consumer(
        &proxy,
        &group,
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&next, &[&topic]).await;
    let got = read_records(&next, JSON, 1, Duration::from_secs(20)).await;
    assert_eq!(offsets_of(&got), vec![3]);
    proxy.stop().await;
}

#[tokio::test]
async fn auto_commit_commits_only_what_was_delivered() {
    let proxy = Proxy::start().await;
    let topic = unique("auto-commit");
    create_topic(&topic, 1).await;
    produce_json(
        &proxy,
        &topic,
        0,
        &(0..4).map(|i| json!(format!("v{i}"))).collect::<Vec<_>>(),
    )
    .await;
    let group = unique("g");
    let base = create_consumer(
        &proxy,
        &group,
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    // Read only the first two (each value is 4 bytes: max_bytes=9 lets two through).
    let end = Instant::now() + Duration::from_secs(15);
    let mut got = Vec::new();
    while got.len() < 2 && Instant::now() < end {
        let r = get(&format!("{base}/records?max_bytes=9"), JSON).await;
        got.extend(r.json().as_array().unwrap().clone());
    }
    assert_eq!(offsets_of(&got), vec![0, 1]);
    // Closing commits the stored (delivered) offsets, not the buffered ones.
    assert_eq!(send(http().delete(&base)).await.status, 204);
    let next = create_consumer(
        &proxy,
        &group,
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&next, &[&topic]).await;
    let rest = read_records(&next, JSON, 2, Duration::from_secs(20)).await;
    assert_eq!(offsets_of(&rest), vec![2, 3]);
    proxy.stop().await;
}

#[tokio::test]
async fn out_of_range_offsets_are_rejected_not_panics() {
    let proxy = Proxy::start().await;
    let topic = unique("bad-offsets");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    assign(&base, &topic, &[0]).await;
    for offset in [-1i64, i64::MAX] {
        let commit = json!({"offsets": [{"topic": topic, "partition": 0, "offset": offset}]});
        post(&format!("{base}/offsets"), V2, &commit)
            .await
            .assert_error(422, 422);
    }
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": -5}]});
    post(&format!("{base}/positions"), V2, &seek)
        .await
        .assert_error(422, 422);
    // Far past the end is accepted (Kafka's reset policy applies), and the proxy keeps working.
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": i64::MAX}]});
    assert_eq!(
        post(&format!("{base}/positions"), V2, &seek).await.status,
        204
    );
    let r = get(
        &format!("{}/topics/{topic}/partitions/0/offsets", proxy.url),
        V2,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn consecutive_seeks_on_different_partitions_both_apply() {
    let proxy = Proxy::start().await;
    let topic = unique("two-seeks");
    create_topic(&topic, 2).await;
    for p in 0..2 {
        produce_json(
            &proxy,
            &topic,
            p,
            &(0..5)
                .map(|i| json!(format!("p{p}-{i}")))
                .collect::<Vec<_>>(),
        )
        .await;
    }
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let both =
        json!({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]});
    post(&format!("{base}/assignments"), V2, &both).await;
    // The second seek must not undo the first, although partition 0 has not been read yet.
    let s0 = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]});
    let s1 = json!({"offsets": [{"topic": topic, "partition": 1, "offset": 1}]});
    assert_eq!(
        post(&format!("{base}/positions"), V2, &s0).await.status,
        204
    );
    assert_eq!(
        post(&format!("{base}/positions"), V2, &s1).await.status,
        204
    );
    let got = read_records(&base, JSON, 6, Duration::from_secs(15)).await;
    let mut seen: Vec<String> = got
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["p0-3", "p0-4", "p1-1", "p1-2", "p1-3", "p1-4"]);
    proxy.stop().await;
}
