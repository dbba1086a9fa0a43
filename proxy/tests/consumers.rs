//! Consumer instances: lifecycle, subscription and assignment, positions, offsets, GET records.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

async fn produce_json(proxy: &Proxy, topic: &str, partition: i32, values: &[Value]) {
    let records: Vec<_> = values.iter().map(|v| json!({"value": v})).collect();
    let r = post(
        &format!("{}/topics/{topic}/partitions/{partition}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

fn offsets_of(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn create_and_delete_instances() {
    let proxy = Proxy::start().await;
    let group = unique("g");
    let url = format!("{}/consumers/{group}", proxy.url);

    let r = post(&url, V2, &json!({"name": "c1", "format": "json"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V2));
    let host = proxy.url.trim_start_matches("http://");
    assert_eq!(
        r.json(),
        json!({"instance_id": "c1", "base_uri": format!("http://{host}/consumers/{group}/instances/c1")})
    );
    post(&url, V2, &json!({"name": "c1"}))
        .await
        .assert_error(409, 40902);
    // An empty body gives a binary consumer with a generated name.
    let r = send(http().post(&url).header("content-type", V2)).await;
    let generated = r.json()["instance_id"].as_str().unwrap().to_string();
    assert!(generated.starts_with("rest-consumer-"), "{generated}");
    // `id` overrides `name`.
    let r = post(&url, V2, &json!({"name": "n", "id": "legacy"})).await;
    assert_eq!(r.json()["instance_id"], "legacy");

    post(&url, V2, &json!({"format": "string"}))
        .await
        .assert_error(422, 422);
    post(&url, V2, &json!({"enable.auto.commit": "true"}))
        .await
        .assert_error(422, 422);
    post(&url, V2, &json!({"fetch.min.bytes": 20_000_000}))
        .await
        .assert_error(422, 40001);
    post(&url, V2, &json!({"auto.offset.reset": "sometimes"}))
        .await
        .assert_error(422, 42204);
    post(&url, V2, &json!({"auto.commit.enable": "maybe"}))
        .await
        .assert_error(422, 42204);
    let form = send(
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=x"),
    )
    .await;
    form.assert_error(415, 415);

    let inst = format!("{url}/instances/c1");
    assert_eq!(send(http().delete(&inst)).await.status, 204);
    send(http().delete(&inst)).await.assert_error(404, 40403);
    get(&format!("{inst}/records"), JSON)
        .await
        .assert_error(404, 40403);
    // The name is free again.
    assert_eq!(post(&url, V2, &json!({"name": "c1"})).await.status, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn advertised_url_builds_base_uri() {
    let proxy = Proxy::start_with(&[("advertised.listeners", "http://proxy.example:9999")]).await;
    let r = post(
        &format!("{}/consumers/grp", proxy.url),
        V2,
        &json!({"name": "adv"}),
    )
    .await;
    assert_eq!(
        r.json()["base_uri"],
        "http://proxy.example:9999/consumers/grp/instances/adv"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn first_get_after_subscribe_returns_records() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "15000")]).await;
    let topic = unique("first-get");
    create_topic(&topic, 1).await;
    produce_json(&proxy, &topic, 0, &[json!("a"), json!("b")]).await;
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    let r = post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": [topic]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = get(&format!("{base}/subscription"), V2).await;
    assert_eq!(r.json(), json!({"topics": [topic]}));

    let start = Instant::now();
    let r = get(&format!("{base}/records?timeout=15000"), JSON).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(JSON));
    assert_eq!(
        r.json(),
        json!([{"topic": topic, "key": null, "value": "a", "partition": 0, "offset": 0},
               {"topic": topic, "key": null, "value": "b", "partition": 0, "offset": 1}])
    );
    // It returned as soon as data was there, not after the timeout.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn long_poll_waits_for_data_and_honours_the_timeout() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "5000")]).await;
    let topic = unique("long-poll");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let r = post(
        &format!("{base}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        get(&format!("{base}/assignments"), V2).await.json(),
        json!({"partitions": [{"topic": topic, "partition": 0}]})
    );
    // Nothing to read: the request's own timeout (shorter than the server's) applies.
    let start = Instant::now();
    let r = get(&format!("{base}/records?timeout=700"), JSON).await;
    assert_eq!(r.json(), json!([]));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(3000),
        "{took:?}"
    );
    // A longer `timeout` than the server's is capped by consumer.request.timeout.ms.
    let start = Instant::now();
    get(&format!("{base}/records?timeout=60000"), JSON).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_millis(8000),
        "{took:?}"
    );
    // Data arriving mid-poll ends the poll early.
    let poll = tokio::spawn({
        let base = base.clone();
        async move {
            let start = Instant::now();
            let r = get(&format!("{base}/records?timeout=5000"), JSON).await;
            (r.json(), start.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce_json(&proxy, &topic, 0, &[json!({"late": true})]).await;
    let (records, took) = poll.await.unwrap();
    assert_eq!(records[0]["value"], json!({"late": true}));
    assert!(took < Duration::from_millis(4000), "{took:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn max_bytes_limits_responses_but_an_oversized_record_still_comes_back() {
    let proxy = Proxy::start().await;
    let topic = unique("max-bytes");
    create_topic(&topic, 1).await;
    // Values of 10, 10, 500, 10 bytes.
    let values = [
        json!("12345678"),
        json!("abcdefgh"),
        json!("x".repeat(498)),
        json!("ABCDEFGH"),
    ];
    produce_json(&proxy, &topic, 0, &values).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    assign(&base, &topic, &[0]).await;
    post(
        &format!("{base}/positions/beginning"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(15);
    while seen.len() < 4 && Instant::now() < end {
        let r = get(&format!("{base}/records?max_bytes=25"), JSON).await;
        let batch = r.json().as_array().unwrap().clone();
        let bytes: usize = batch.iter().map(|r| r["value"].to_string().len()).sum();
        assert!(batch.len() <= 1 || bytes < 25, "over max_bytes: {batch:?}");
        seen.extend(batch);
    }
    assert_eq!(
        offsets_of(&seen),
        vec![0, 1, 2, 3],
        "the 500-byte record is returned alone: {seen:?}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn binary_records_and_accept_negotiation() {
    let proxy = Proxy::start().await;
    let topic = unique("accept");
    create_topic(&topic, 1).await;
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        BINARY,
        &json!({"records": [{"key": "a2V5", "value": "aGVsbG8gd29ybGQhISE="}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    get(&format!("{base}/records"), JSON)
        .await
        .assert_error(406, 40601);
    let r = get(&format!("{base}/records"), "text/plain").await;
    assert_eq!((r.status, r.text.as_str()), (406, ""));
    let recs = read_records(&base, BINARY, 1, Duration::from_secs(15)).await;
    assert_eq!(
        recs,
        vec![
            json!({"topic": topic, "key": "a2V5", "value": "aGVsbG8gd29ybGQhISE=", "partition": 0, "offset": 0})
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn json_consumer_reports_undecodable_record_and_can_seek_past_it() {
    let proxy = Proxy::start().await;
    let topic = unique("bad-json");
    create_topic(&topic, 1).await;
    // Binary lets us write bytes that are not JSON: "ok" JSON, then "not json", then JSON.
    let records =
        json!({"records": [{"value": "Im9rIg=="}, {"value": "bm90IGpzb24="}, {"value": "MQ=="}]});
    post(&format!("{}/topics/{topic}", proxy.url), BINARY, &records).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let tp = json!({"partitions": [{"topic": topic, "partition": 0}]});
    post(&format!("{base}/assignments"), V2, &tp).await;
    post(&format!("{base}/positions/beginning"), V2, &tp).await;
    let first = read_records(&base, JSON, 1, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&first), vec![0]);
    let msg = get(&format!("{base}/records"), JSON)
        .await
        .assert_error(408, 40801);
    assert!(msg.contains("offset 1"), "{msg}");
    let r = post(
        &format!("{base}/positions"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let rest = read_records(&base, JSON, 1, Duration::from_secs(10)).await;
    assert_eq!(rest[0]["value"], json!(1));
    proxy.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_a_group_share_the_partitions() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "1000")]).await;
    let topic = unique("shared");
    create_topic(&topic, 4).await;
    let group = unique("g");
    let opts =
        |name: &str| json!({"name": name, "format": "json", "auto.offset.reset": "earliest"});
    let a = create_consumer(&proxy, &group, opts("a")).await;
    let b = create_consumer(&proxy, &group, opts("b")).await;
    for base in [&a, &b] {
        subscribe(base, &[&topic]).await;
    }
    let (ra, rb) = (format!("{a}/records"), format!("{b}/records"));
    let assigned = |base: &str| {
        let url = format!("{base}/assignments");
        async move {
            let r = get(&url, V2).await.json();
            r["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["partition"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // Both members must poll for the group to settle on two partitions each.
    let end = Instant::now() + Duration::from_secs(40);
    let (mut pa, mut pb) = (vec![], vec![]);
    while !(pa.len() == 2 && pb.len() == 2) && Instant::now() < end {
        let (x, y) = tokio::join!(get(&ra, JSON), get(&rb, JSON));
        assert_eq!(x.json(), json!([]));
        assert_eq!(y.json(), json!([]));
        (pa, pb) = (assigned(&a).await, assigned(&b).await);
    }
    assert_eq!((pa.len(), pb.len()), (2, 2), "a={pa:?} b={pb:?}");
    for p in 0..4 {
        produce_json(&proxy, &topic, p, &[json!(format!("p{p}"))]).await;
    }
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let end = Instant::now() + Duration::from_secs(20);
    while from_a.len() + from_b.len() < 4 && Instant::now() < end {
        let (x, y) = tokio::join!(get(&ra, JSON), get(&rb, JSON));
        from_a.extend(x.json().as_array().unwrap().clone());
        from_b.extend(y.json().as_array().unwrap().clone());
    }
    let parts = |v: &Vec<Value>| {
        v.iter()
            .map(|r| r["partition"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (mut got_a, mut got_b) = (parts(&from_a), parts(&from_b));
    got_a.sort();
    got_b.sort();
    assert_eq!(
        (got_a, got_b),
        (pa, pb),
        "each instance reads exactly its own partitions once"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn idle_instances_expire_and_leave_the_group() {
    let proxy = Proxy::start_with(&[("consumer.instance.timeout.ms", "1500")]).await;
    let group = unique("g");
    let idle = create_consumer(&proxy, &group, json!({"name": "idle"})).await;
    let busy = create_consumer(&proxy, &group, json!({"name": "busy"})).await;
    let end = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < end {
        // Any request touches the instance, even one that fails.
        get(&format!("{busy}/subscription"), V2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    get(&format!("{idle}/subscription"), V2)
        .await
        .assert_error(404, 40403);
    assert_eq!(get(&format!("{busy}/subscription"), V2).await.status, 200);
    // The expired name can be used again.
    assert_eq!(
        post(
            &format!("{}/consumers/{group}", proxy.url),
            V2,
            &json!({"name": "idle"})
        )
        .await
        .status,
        200
    );
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

#[tokio::test]
async fn reset_none_without_a_commit_is_an_error_not_an_empty_answer() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "8000")]).await;
    let topic = unique("reset-none");
    create_topic(&topic, 1).await;
    produce_json(&proxy, &topic, 0, &[json!(1)]).await;
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "none"}),
    )
    .await;
    assign(&base, &topic, &[0]).await;
    let start = Instant::now();
    let r = get(&format!("{base}/records"), JSON).await;
    r.assert_error(500, 50002);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "answered only after {:?}",
        start.elapsed()
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_does_not_wait_for_a_long_poll() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "20000")]).await;
    let topic = unique("delete-poll");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    assign(&base, &topic, &[0]).await;
    let poll = tokio::spawn({
        let url = format!("{base}/records?timeout=20000");
        async move { get(&url, JSON).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    assert_eq!(send(http().delete(&base)).await.status, 204);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "DELETE took {:?}",
        start.elapsed()
    );
    let r = poll.await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, "[]"));
    proxy.stop().await;
}

#[tokio::test]
async fn topic_pattern_subscription_matches_whole_names() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "3000")]).await;
    let prefix = unique("pat");
    let (a, b, other) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("x{prefix}-c"),
    );
    for t in [&a, &b, &other] {
        create_topic(t, 1).await;
        produce_json(&proxy, t, 0, &[json!(t)]).await;
    }
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    let r = post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topic_pattern": format!("{prefix}-.*")}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let got = read_records(&base, JSON, 2, Duration::from_secs(20)).await;
    let mut topics: Vec<String> = got
        .iter()
        .map(|r| r["topic"].as_str().unwrap().to_string())
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![a.clone(), b.clone()],
        "only whole-name matches"
    );
    let mut sub: Vec<String> = serde_json::from_value(
        get(&format!("{base}/subscription"), V2).await.json()["topics"].clone(),
    )
    .unwrap();
    sub.sort();
    assert_eq!(sub, vec![a, b]);
    proxy.stop().await;
}
