//! A plain rdkafka producer loop, sharing no code with the harness's drivers: the reference the
//! harness's native produce rate is checked against.
//!
//! `cargo run --release -p loadgen --example plain_producer -- [RECORDS] [VALUE_BYTES] [BOOTSTRAP] [ROUNDS]`
//! starts a local Tansu unless BOOTSTRAP is given (`-` for none), and ROUNDS times (default 1)
//! creates a 4-partition topic and a fresh producer with the harness's producer settings
//! (acks=all, idempotent, linger 5 ms), sends RECORDS key-less records (default 2,000,000 of 100
//! bytes), waits for every acknowledgement and prints records/s: how much a producer's speed
//! varies from one instance to the next on the machine.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = args.get(1).map_or(Ok(2_000_000), |a| a.parse())?;
    let value_bytes: usize = args.get(2).map_or(Ok(100), |a| a.parse())?;
    let rounds: u32 = args.get(4).map_or(Ok(1), |a| a.parse())?;
    let (bootstrap, _broker) = match args.get(3).filter(|b| *b != "-") {
        Some(b) => (b.clone(), None),
        None => {
            let broker = local_broker::LocalBroker::start()?;
            (broker.bootstrap().to_string(), Some(broker))
        }
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let value = vec![b'x'; value_bytes];
    for round in 0..rounds {
        let topic = format!("plain-producer-{}-{round}", std::process::id());
        let new = NewTopic::new(&topic, 4, TopicReplication::Fixed(1));
        admin.create_topics([&new], &AdminOptions::new()).await?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("enable.idempotence", "true")
            .create()?;
        // Warm up: connect and initialise idempotence outside the timed loop.
        producer
            .send(BaseRecord::<(), [u8]>::to(&topic).payload(&value[..]))
            .map_err(|(e, _)| e)?;
        producer.flush(Duration::from_secs(30))?;

        let start = Instant::now();
        for _ in 0..records {
            loop {
                match producer.send(BaseRecord::<(), [u8]>::to(&topic).payload(&value[..])) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        producer.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(120))?;
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "plain rdkafka producer: {records} records of {value_bytes} B in {elapsed:.2} s = {:.0} records/s",
            records as f64 / elapsed
        );
        // Each round's records go, so an in-memory broker does not fill up (Tansu quirk 8).
        admin
            .delete_topics(&[topic.as_str()], &AdminOptions::new())
            .await?;
    }
    Ok(())
}
