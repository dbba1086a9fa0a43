//! The HTTP edge (issue 16, item 2), over real HTTP and TLS on loopback: `https://` listeners
//! beside `http://` ones (Confluent's `ssl.*` keys, PEM keystore), client certificates
//! (`ssl.client.authentication`), BASIC authentication on both APIs
//! (`authentication.method=BASIC`), and CORS with preflights (`access.control.allow.*`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use tokio::sync::oneshot;

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    /// The server's chain and key in one file (`ssl.keystore.type=PEM`).
    keystore: PathBuf,
    /// The client's certificate and key in one file.
    client: PathBuf,
    /// A client certificate from another CA.
    stranger: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn authority(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, Issuer::new(params, key))
}

fn leaf(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> String {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, issuer)
        .unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let dir = std::env::temp_dir().join(unique("edge-pki"));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_cert, ca) = authority("edge test CA");
    let (_, other) = authority("another CA");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        keystore: write("server.pem", leaf(&["127.0.0.1", "localhost"], &ca)),
        client: write("client.pem", leaf(&["client.example"], &ca)),
        stranger: write("stranger.pem", leaf(&["stranger.example"], &other)),
        dir,
    }
}

/// A proxy on an http and an https listener (and, with `registry`, the built-in registry on an
/// https listener), with `extra` properties.
struct Edge {
    http: String,
    https: String,
    registry: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Edge {
    async fn start(pki: &Pki, registry: bool, extra: &[(&str, &str)]) -> Edge {
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
        let mut props: BTreeMap<String, String> = BTreeMap::new();
        props.insert("bootstrap.servers".into(), broker().bootstrap.clone());
        props.insert(
            "listeners".into(),
            format!("http://{plain_addr},https://{tls_addr}"),
        );
        props.insert(
            "ssl.keystore.location".into(),
            pki.keystore.display().to_string(),
        );
        props.insert("ssl.keystore.type".into(), "PEM".into());
        let mut registry_listeners = Vec::new();
        let mut registry_url = None;
        if registry {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            props.insert(
                "schema.registry.listeners".into(),
                format!("https://{addr}"),
            );
            props.insert("schema.registry.topic".into(), unique("schemas"));
            registry_url = Some(format!("https://{addr}"));
            registry_listeners.push(l);
        } else {
            props.insert("schema.registry.listeners".into(), String::new());
        }
        for (k, v) in extra {
            props.insert(k.to_string(), v.to_string());
        }
        let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kafka_proxy::serve_all(
            config,
            vec![plain, tls],
            registry_listeners,
            async {
                let _ = rx.await;
            },
        ));
        Edge {
            http: format!("http://{plain_addr}"),
            https: format!("https://{tls_addr}"),
            registry: registry_url,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        self.stop.take().map(|s| s.send(()));
        self.task.await.unwrap().unwrap();
    }
}

fn client(ca: &Path, identity: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap());
    if let Some(path) = identity {
        b = b.identity(reqwest::Identity::from_pem(&std::fs::read(path).unwrap()).unwrap());
    }
    b.build().unwrap()
}

/// `https://` and `http://` listeners side by side; the https one completes a handshake with a
/// client that trusts the test CA, and refuses one that does not.
#[tokio::test]
async fn https_and_http_listeners_side_by_side() {
    let pki = pki();
    let edge = Edge::start(&pki, false, &[]).await;
    let topic = unique("edge-https");
    create_topic(&topic, 1).await;
    let r = send(client(&pki.ca, None).get(format!("{}/topics/{topic}", edge.https))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        client(&pki.ca, None)
            .post(format!("{}/topics/{topic}", edge.https))
            .header("content-type", JSON)
            .body(json!({"records": [{"value": {"over": "https"}}]}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = get(&format!("{}/topics/{topic}", edge.http), V2).await;
    assert_eq!(r.status, 200, "{r:?}");
    // A client that does not trust the CA fails the handshake.
    let untrusting = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(untrusting
        .get(format!("{}/topics", edge.https))
        .send()
        .await
        .is_err());
    // Plain HTTP to the https port is not served.
    assert!(http()
        .get(format!(
            "{}/topics",
            edge.https.replace("https://", "http://")
        ))
        .send()
        .await
        .map(|r| r.status().as_u16() != 200)
        .unwrap_or(true));
    edge.stop().await;
}

/// `ssl.client.authentication=REQUIRED`: only clients with a certificate the truststore's CA
/// signed connect; REQUESTED lets a client without one in but still refuses a stranger's.
#[tokio::test]
async fn client_certificates() {
    let pki = pki();
    let truststore = pki.ca.display().to_string();
    let edge = Edge::start(
        &pki,
        false,
        &[
            ("ssl.client.authentication", "REQUIRED"),
            ("ssl.truststore.location", &truststore),
        ],
    )
    .await;
    let url = format!("{}/topics", edge.https);
    let r = send(client(&pki.ca, Some(&pki.client)).get(&url)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(client(&pki.ca, None).get(&url).send().await.is_err());
    assert!(client(&pki.ca, Some(&pki.stranger))
        .get(&url)
        .send()
        .await
        .is_err());
    edge.stop().await;

    let edge = Edge::start(
        &pki,
        false,
        &[
            ("ssl.client.authentication", "REQUESTED"),
            ("ssl.truststore.location", &truststore),
        ],
    )
    .await;
    let url = format!("{}/topics", edge.https);
    assert_eq!(send(client(&pki.ca, None).get(&url)).await.status, 200);
    assert_eq!(
        send(client(&pki.ca, Some(&pki.client)).get(&url))
            .await
            .status,
        200
    );
    assert!(client(&pki.ca, Some(&pki.stranger))
        .get(&url)
        .send()
        .await
        .is_err());
    edge.stop().await;
}

/// `authentication.method=BASIC`: both APIs refuse a request without valid credentials with 401,
/// the realm's challenge and Confluent's error shape, and serve one with them.
#[tokio::test]
async fn basic_authentication_on_both_apis() {
    let pki = pki();
    let credentials = pki.dir.join("users.properties");
    std::fs::write(&credentials, "# users\nalice: wonderland,admin\n").unwrap();
    let credentials = credentials.display().to_string();
    let edge = Edge::start(
        &pki,
        true,
        &[
            ("authentication.method", "BASIC"),
            ("authentication.realm", "KafkaRest"),
            ("authentication.roles", "*"),
            ("authentication.credentials.file", &credentials),
        ],
    )
    .await;
    let c = client(&pki.ca, None);
    let sr = edge.registry.clone().unwrap();
    for url in [
        format!("{}/topics", edge.http),
        format!("{}/topics", edge.https),
        format!("{sr}/subjects"),
    ] {
        let r = send(c.get(&url)).await;
        assert_eq!(r.status, 401, "{url}: {r:?}");
        r.assert_error(401, 401);
        let challenge = c.get(&url).send().await.unwrap();
        assert_eq!(
            challenge.headers()["www-authenticate"],
            "Basic realm=\"KafkaRest\""
        );
        let r = send(c.get(&url).basic_auth("alice", Some("wrong"))).await;
        assert_eq!(r.status, 401, "{url}: {r:?}");
        let r = send(c.get(&url).basic_auth("mallory", Some("wonderland"))).await;
        assert_eq!(r.status, 401, "{url}: {r:?}");
        // The registry may still be reading its topic: wait for it with credentials.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let r = send(c.get(&url).basic_auth("alice", Some("wonderland"))).await;
            if r.status == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{url}: {r:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // Writes too: an unauthenticated produce writes nothing.
    let topic = unique("edge-basic");
    create_topic(&topic, 1).await;
    let r = send(
        c.post(format!("{}/topics/{topic}", edge.https))
            .header("content-type", JSON)
            .body(json!({"records": [{"value": 1}]}).to_string()),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(
        c.post(format!("{}/topics/{topic}", edge.https))
            .basic_auth("alice", Some("wonderland"))
            .header("content-type", JSON)
            .body(json!({"records": [{"value": 2}]}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = read_all(&topic, 1, 1, std::time::Duration::from_secs(10));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value.as_deref(), Some(&b"2"[..]));
    edge.stop().await;
}

/// Roles from the credentials file: `authentication.roles` keeps users without an allowed role
/// out of both APIs (403), and `schema.registry.admin.roles` makes the registry read-only for
/// the others: they read, look up and check compatibility, but registering, config, mode and
/// deletes answer 403/40301 and change nothing; an admin does all of it.
#[tokio::test]
async fn registry_read_only_and_admin_roles() {
    let pki = pki();
    let credentials = pki.dir.join("users.properties");
    std::fs::write(
        &credentials,
        "root: pw-root,admin,developer
dev: pw-dev,developer
guest: pw-guest,visitor
",
    )
    .unwrap();
    let credentials = credentials.display().to_string();
    let edge = Edge::start(
        &pki,
        true,
        &[
            ("authentication.method", "BASIC"),
            ("authentication.credentials.file", &credentials),
            ("authentication.roles", "admin,developer"),
            ("schema.registry.admin.roles", "admin"),
        ],
    )
    .await;
    let c = client(&pki.ca, None);
    let sr = edge.registry.clone().unwrap();
    let subject = unique("roles");
    let schema = json!({"schema": "{\"type\":\"string\"}"}).to_string();
    let sr_json = "application/vnd.schemaregistry.v1+json";
    let as_user = |user: &str, pw: &str, req: reqwest::RequestBuilder| {
        req.basic_auth(user, Some(pw))
            .header("content-type", sr_json)
    };

    // guest has no allowed role: 403 on both APIs.
    for url in [format!("{}/topics", edge.https), format!("{sr}/subjects")] {
        let r = send(as_user("guest", "pw-guest", c.get(&url))).await;
        assert_eq!(r.status, 403, "{url}: {r:?}");
        r.assert_error(403, 403);
    }
    // dev reads the REST API and the registry (waiting for the registry to load).
    let r = send(as_user(
        "dev",
        "pw-dev",
        c.get(format!("{}/topics", edge.https)),
    ))
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = send(as_user("dev", "pw-dev", c.get(format!("{sr}/subjects")))).await;
        if r.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{r:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // dev may not change the registry.
    let register = format!("{sr}/subjects/{subject}/versions");
    let r = send(as_user("dev", "pw-dev", c.post(&register)).body(schema.clone())).await;
    assert_eq!(r.status, 403, "{r:?}");
    r.assert_error(403, 40301);
    assert!(r.text.contains("schema.registry.admin.roles"), "{r:?}");
    for req in [
        c.put(format!("{sr}/config"))
            .body(json!({"compatibility": "NONE"}).to_string()),
        c.put(format!("{sr}/mode"))
            .body(json!({"mode": "READONLY"}).to_string()),
        c.delete(format!("{sr}/config")),
    ] {
        let r = send(as_user("dev", "pw-dev", req)).await;
        assert_eq!(r.status, 403, "{r:?}");
    }
    let r = send(as_user("dev", "pw-dev", c.get(format!("{sr}/subjects")))).await;
    assert_eq!(r.json(), json!([]), "a refused registration wrote nothing");
    let r = send(as_user("dev", "pw-dev", c.get(format!("{sr}/config")))).await;
    assert_eq!(r.json()["compatibilityLevel"], "BACKWARD", "{r:?}");

    // root (admin) registers; then dev looks it up and checks compatibility (POSTs that read).
    let r = send(as_user("root", "pw-root", c.post(&register)).body(schema.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        as_user("dev", "pw-dev", c.post(format!("{sr}/subjects/{subject}"))).body(schema.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["version"], 1, "{r:?}");
    let r = send(
        as_user(
            "dev",
            "pw-dev",
            c.post(format!(
                "{sr}/compatibility/subjects/{subject}/versions/latest"
            )),
        )
        .body(schema.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["is_compatible"], true, "{r:?}");
    // dev may not delete it; root may.
    let delete = format!("{sr}/subjects/{subject}");
    let r = send(as_user("dev", "pw-dev", c.delete(&delete))).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = send(as_user("root", "pw-root", c.delete(&delete))).await;
    assert_eq!(r.status, 200, "{r:?}");
    edge.stop().await;

    // Roles without BASIC stop start-up.
    let mut props = BTreeMap::new();
    props.insert("bootstrap.servers".to_string(), "127.0.0.1:9".to_string());
    props.insert(
        "schema.registry.admin.roles".to_string(),
        "admin".to_string(),
    );
    let err = kafka_proxy::Config::from_properties(&props)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs authentication.method=BASIC"), "{err}");
}

/// CORS (`access.control.allow.origin`): a preflight from an allowed origin is answered with the
/// allowed methods, even with BASIC on (preflights carry no credentials); another origin gets no
/// CORS headers.
#[tokio::test]
async fn cors_preflight_and_origins() {
    let pki = pki();
    let credentials = pki.dir.join("users.properties");
    std::fs::write(&credentials, "alice: wonderland\n").unwrap();
    let credentials = credentials.display().to_string();
    let edge = Edge::start(
        &pki,
        false,
        &[
            ("access.control.allow.origin", "https://app.example"),
            ("access.control.allow.methods", "GET,POST,OPTIONS"),
            ("access.control.allow.headers", "Content-Type,Authorization"),
            ("authentication.method", "BASIC"),
            ("authentication.credentials.file", &credentials),
        ],
    )
    .await;
    let c = http();
    let preflight = c
        .request(reqwest::Method::OPTIONS, format!("{}/topics/t", edge.http))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{preflight:?}");
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let answer = c
        .get(format!("{}/topics", edge.http))
        .header("origin", "https://app.example")
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = c
        .get(format!("{}/topics", edge.http))
        .header("origin", "https://evil.example")
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    edge.stop().await;
}

/// Confluent's keys start the proxy; what cannot be honoured is refused at start-up, naming the
/// key and the way out.
#[test]
fn confluent_edge_keys() {
    let base = |extra: &[(&str, &str)]| {
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        p.insert("bootstrap.servers".into(), "127.0.0.1:9092".into());
        for (k, v) in extra {
            p.insert(k.to_string(), v.to_string());
        }
        kafka_proxy::Config::from_properties(&p).map(|_| ())
    };
    assert!(base(&[
        ("listeners", "https://127.0.0.1:8443"),
        ("ssl.keystore.location", "/etc/proxy/keystore.pem"),
        ("ssl.keystore.password", "x"),
        ("ssl.key.password", "x"),
        ("ssl.client.auth", "false"),
        ("access.control.allow.origin", "*"),
    ])
    .is_ok());
    let err = base(&[("listeners", "https://127.0.0.1:8443")]).unwrap_err();
    assert!(err.to_string().contains("ssl.keystore.location"), "{err}");
    let err = base(&[("ssl.keystore.type", "JKS")]).unwrap_err();
    assert!(err.to_string().contains("keytool -importkeystore"), "{err}");
    assert!(base(&[("ssl.keystore.type", "PKCS12")]).is_ok());
    let err = base(&[("authentication.method", "BASIC")]).unwrap_err();
    assert!(
        err.to_string().contains("authentication.credentials.file"),
        "{err}"
    );
    let err = base(&[("ssl.client.authentication", "REQUIRED")]).unwrap_err();
    assert!(err.to_string().contains("ssl.truststore.location"), "{err}");
}

/// `rate.limit.enable`: each principal has its own bucket (`rate.limit.permits.per.sec`,
/// `rate.limit.burst`); over it, 429 with `Retry-After`, produce included; probes are never
/// limited.
#[tokio::test]
async fn rate_limits_per_principal() {
    let pki = pki();
    let credentials = pki.dir.join("users.properties");
    std::fs::write(&credentials, "alice: a\nbob: b\n").unwrap();
    let credentials = credentials.display().to_string();
    let edge = Edge::start(
        &pki,
        false,
        &[
            ("authentication.method", "BASIC"),
            ("authentication.credentials.file", &credentials),
            ("rate.limit.enable", "true"),
            ("rate.limit.permits.per.sec", "2"),
            ("rate.limit.burst", "2"),
        ],
    )
    .await;
    let topic = unique("edge-rate");
    create_topic(&topic, 1).await;
    let c = http();
    let produce = |user: &'static str, password: &'static str| {
        c.post(format!("{}/topics/{topic}", edge.http))
            .basic_auth(user, Some(password))
            .header("content-type", JSON)
            .body(json!({"records": [{"value": user}]}).to_string())
    };
    assert_eq!(send(produce("alice", "a")).await.status, 200);
    assert_eq!(send(produce("alice", "a")).await.status, 200);
    let refused = produce("alice", "a").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], 429, "{body}");
    // Bob's bucket is his own; probes are not limited.
    assert_eq!(send(produce("bob", "b")).await.status, 200);
    for _ in 0..5 {
        assert_eq!(
            send(c.get(format!("{}/ready", edge.http))).await.status,
            200
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(send(produce("alice", "a")).await.status, 200);
    // What was refused was not written: alice 3, bob 1.
    let stored = read_all(&topic, 1, 4, std::time::Duration::from_secs(10));
    assert_eq!(stored.len(), 4);
    edge.stop().await;
}

/// A renewed certificate is served without a restart: the keystore is read again when it
/// changes (a file that does not load keeps the previous certificate).
#[tokio::test]
async fn the_keystore_is_reloaded_when_it_changes() {
    let pki = pki();
    let edge = Edge::start(&pki, false, &[]).await;
    let url = format!("{}/topics", edge.https);
    assert_eq!(send(client(&pki.ca, None).get(&url)).await.status, 200);

    // A broken file: the previous certificate stays.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&pki.keystore, "not PEM").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let _ = client(&pki.ca, None).get(&url).send().await;
    assert_eq!(send(client(&pki.ca, None).get(&url)).await.status, 200);

    // A certificate from another CA: new connections get it.
    let (renewed_ca, issuer) = authority("renewed CA");
    let renewed_ca_path = pki.dir.join("renewed-ca.pem");
    std::fs::write(&renewed_ca_path, renewed_ca.pem()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&pki.keystore, leaf(&["127.0.0.1"], &issuer)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(r) = client(&renewed_ca_path, None).get(&url).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(client(&pki.ca, None).get(&url).send().await.is_err());
    edge.stop().await;
}

/// `ssl.keystore.type=PKCS12` and `ssl.truststore.type=PKCS12` (stores made by the openssl
/// command line), with their passwords; a wrong password stops start-up naming the store.
#[tokio::test]
async fn pkcs12_stores() {
    let pki = pki();
    let keystore = pki.dir.join("server.p12");
    let truststore = pki.dir.join("trust.p12");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let pem = pki.keystore.to_str().unwrap();
    run(&[
        "pkcs12",
        "-export",
        "-in",
        pem,
        "-inkey",
        pem,
        "-out",
        keystore.to_str().unwrap(),
        "-passout",
        "pass:store-secret",
    ]);
    // A Java truststore marks its CAs trusted (an Oracle bag attribute), which the openssl 3.0
    // command line cannot write: this one is written as Java's keytool would, by the same
    // PKCS12 library the proxy reads it with.
    let ca_der = first_certificate_der(&pki.ca);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "ca",
        p12_keystore::KeyStoreEntry::Certificate(
            p12_keystore::Certificate::from_der(&ca_der).unwrap(),
        ),
    );
    std::fs::write(&truststore, store.writer("trust-secret").write().unwrap()).unwrap();
    let (k, t) = (
        keystore.display().to_string(),
        truststore.display().to_string(),
    );
    let edge = Edge::start(
        &pki,
        false,
        &[
            ("ssl.keystore.location", &k),
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.password", "store-secret"),
            ("ssl.key.password", "store-secret"),
            ("ssl.truststore.location", &t),
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.password", "trust-secret"),
            ("ssl.client.authentication", "REQUIRED"),
        ],
    )
    .await;
    let url = format!("{}/topics", edge.https);
    assert_eq!(
        send(client(&pki.ca, Some(&pki.client)).get(&url))
            .await
            .status,
        200
    );
    assert!(client(&pki.ca, None).get(&url).send().await.is_err());
    edge.stop().await;

    // A wrong password: the proxy does not start, and says which store.
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    props.insert("bootstrap.servers".into(), broker().bootstrap.clone());
    props.insert(
        "listeners".into(),
        format!("https://{}", listener.local_addr().unwrap()),
    );
    props.insert("schema.registry.listeners".into(), String::new());
    props.insert("ssl.keystore.location".into(), k.clone());
    props.insert("ssl.keystore.type".into(), "PKCS12".into());
    props.insert("ssl.keystore.password".into(), "wrong".into());
    let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
    let err = kafka_proxy::serve_all(config, vec![listener], Vec::new(), async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("server.p12"), "{err}");
}

/// The DER of the first certificate in a PEM file.
fn first_certificate_der(path: &Path) -> Vec<u8> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).unwrap();
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// With client certificates, a request's principal is its certificate's subject: rate limits
/// are per certificate when no BASIC user is given.
#[tokio::test]
async fn client_certificate_subjects_are_principals() {
    let pki = pki();
    let (ca2_cert, issuer) = authority("edge test CA 2");
    // Two clients of one CA, told apart by their subjects.
    let named = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let path = pki.dir.join(format!("{cn}.pem"));
        std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        path
    };
    let (alpha, beta) = (named("alpha"), named("beta"));
    // The truststore holds the second CA, which signed both clients.
    let ca2 = pki.dir.join("ca2.pem");
    std::fs::write(&ca2, ca2_cert.pem()).unwrap();
    let truststore = ca2.display().to_string();
    let edge = Edge::start(
        &pki,
        false,
        &[
            ("ssl.client.authentication", "REQUIRED"),
            ("ssl.truststore.location", &truststore),
            ("rate.limit.enable", "true"),
            ("rate.limit.permits.per.sec", "1"),
            ("rate.limit.burst", "1"),
        ],
    )
    .await;
    let url = format!("{}/topics", edge.https);
    let a = client(&pki.ca, Some(&alpha));
    assert_eq!(send(a.get(&url)).await.status, 200);
    assert_eq!(
        send(a.get(&url)).await.status,
        429,
        "alpha's bucket is spent"
    );
    let b = client(&pki.ca, Some(&beta));
    assert_eq!(
        send(b.get(&url)).await.status,
        200,
        "beta has its own bucket"
    );
    edge.stop().await;
}

/// HTTP/2 beside HTTP/1.1 (`http2.enabled`, on by default, as Confluent's): h2c by prior
/// knowledge on the `http://` listener and h2 by ALPN on the `https://` one. Five times a
/// connection's stream limit in requests at once on one client all land in Kafka, an error keeps
/// Confluent's JSON shape, and the server stops while HTTP/2 connections are still open.
#[tokio::test]
async fn http2_by_prior_knowledge_and_by_alpn() {
    let pki = pki();
    let edge = Edge::start(&pki, false, &[("http2.max.concurrent.streams", "8")]).await;
    let topic = unique("edge-h2");
    create_topic(&topic, 2).await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = format!("{}/topics/{topic}", edge.http);
    let replies = futures_util::future::join_all((0..40).map(|i| {
        let records: Vec<_> = (0..3)
            .map(|j| json!({"value": format!("h2c-{i}-{j}")}))
            .collect();
        let request = h2c
            .post(&url)
            .header("content-type", JSON)
            .body(json!({ "records": records }).to_string());
        async move {
            let r = request.send().await.unwrap();
            (r.version(), r.status().as_u16(), r.text().await.unwrap())
        }
    }))
    .await;
    for (version, status, text) in &replies {
        assert_eq!(*version, reqwest::Version::HTTP_2);
        assert_eq!(*status, 200, "{text}");
        assert_eq!(text.matches("\"error_code\":null").count(), 3, "{text}");
    }
    let mut values: Vec<String> = read_all(&topic, 2, 120, Duration::from_secs(20))
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    values.sort();
    let mut expected: Vec<String> = (0..40)
        .flat_map(|i| (0..3).map(move |j| format!("\"h2c-{i}-{j}\"")))
        .collect();
    expected.sort();
    assert_eq!(values, expected, "every record once");
    // An error over HTTP/2 is the same JSON as over HTTP/1.1.
    let missing = send(
        h2c.post(format!("{}/topics/{}", edge.http, unique("absent")))
            .header("content-type", JSON)
            .body(json!({"records": [{"value": 1}]}).to_string()),
    )
    .await;
    missing.assert_error(404, 40401);
    assert_eq!(missing.content_type.as_deref(), Some(V2));
    // h2 by ALPN over TLS.
    let tls = client(&pki.ca, None);
    let url = format!("{}/topics/{topic}", edge.https);
    assert_eq!(
        get_version(&tls, &url).await,
        (reqwest::Version::HTTP_2, 200)
    );
    // Both clients keep their connections open: the server still stops (GOAWAY).
    tokio::time::timeout(Duration::from_secs(10), edge.stop())
        .await
        .expect("the server stops with HTTP/2 connections open");
    drop((h2c, tls));
}

/// The HTTP version and status of a GET.
async fn get_version(client: &reqwest::Client, url: &str) -> (reqwest::Version, u16) {
    let r = client.get(url).send().await.unwrap();
    (r.version(), r.status().as_u16())
}

/// `http2.enabled=false`: HTTP/1.1 only. ALPN offers only `http/1.1`, and an h2c client gets no
/// answer it can read.
#[tokio::test]
async fn http2_can_be_turned_off() {
    let pki = pki();
    let edge = Edge::start(&pki, false, &[("http2.enabled", "false")]).await;
    let url = format!("{}/topics", edge.https);
    assert_eq!(
        get_version(&client(&pki.ca, None), &url).await,
        (reqwest::Version::HTTP_11, 200)
    );
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let answer = h2c.get(format!("{}/topics", edge.http)).send().await;
    assert!(answer.is_err(), "{answer:?}");
    let r = get(&format!("{}/topics", edge.http), V2).await;
    assert_eq!(r.status, 200, "{r:?}");
    edge.stop().await;
}

/// An HTTP/2 connection on which no request starts for `http.header.read.timeout.ms` is sent
/// away (GOAWAY) before any keep-alive ping, as an idle HTTP/1.1 connection is closed, and then
/// closed. Spoken frame by frame, as a client that answers everything but sends no request.
#[tokio::test]
async fn idle_http2_connections_are_sent_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const GOAWAY: u8 = 7;
    const ACK: u8 = 1;
    let pki = pki();
    let edge = Edge::start(&pki, false, &[("http.header.read.timeout.ms", "1000")]).await;
    let mut s = tokio::net::TcpStream::connect(edge.http.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut goaway_after = None;
    loop {
        let mut head = [0u8; 9];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head)).await;
        match read.expect("the server neither sent frames nor closed") {
            Ok(_) => {}
            Err(_) => break, // closed
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.unwrap();
        match kind {
            SETTINGS if flags & ACK == 0 => s
                .write_all(&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0])
                .await
                .unwrap(),
            PING if flags & ACK == 0 => {
                assert!(
                    goaway_after.is_some(),
                    "a keep-alive ping came before the GOAWAY"
                );
                let mut ack = vec![0, 0, 8, PING, ACK, 0, 0, 0, 0];
                ack.extend_from_slice(&payload);
                s.write_all(&ack).await.unwrap();
            }
            GOAWAY => {
                goaway_after.get_or_insert(started.elapsed());
            }
            _ => {}
        }
    }
    let after = goaway_after.expect("closed without a GOAWAY");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(2500),
        "GOAWAY after {after:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(6), "closed in time");
    edge.stop().await;
}
