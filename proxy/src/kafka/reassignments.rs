//! Ongoing partition reassignments for the v3 API (ListPartitionReassignments, which
//! librdkafka does not offer), asked of the controller over the wire admin.

use kafka_protocol::messages::ListPartitionReassignmentsRequest;
use kafka_protocol::messages::ListPartitionReassignmentsResponse;

use super::admin::Admin;
use super::error::Error;
use super::wire_admin::check;

/// One partition being moved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The reassignments an answer lists, sorted by topic and partition. An entry adding and
/// removing nothing is not a reassignment: Kafka never lists one (it would be complete), and
/// Tansu 0.6 lists every partition that way (README quirk 13), so such entries are dropped.
fn ongoing(answer: ListPartitionReassignmentsResponse) -> Result<Vec<Reassignment>, Error> {
    check(answer.error_code, answer.error_message.as_ref())?;
    let mut out: Vec<Reassignment> = answer
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| Reassignment {
                topic: t.name.as_str().to_string(),
                partition: p.partition_index,
                replicas: p.replicas.iter().map(|b| b.0).collect(),
                adding: p.adding_replicas.iter().map(|b| b.0).collect(),
                removing: p.removing_replicas.iter().map(|b| b.0).collect(),
            })
        })
        .filter(|r| !(r.adding.is_empty() && r.removing.is_empty()))
        .collect();
    out.sort();
    Ok(out)
}

impl Admin {
    /// Every ongoing reassignment in the cluster.
    pub async fn reassignments(&self) -> Result<Vec<Reassignment>, Error> {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(i32::try_from(self.timeout().as_millis()).unwrap_or(i32::MAX))
            .with_topics(None);
        let addr = self.broker_address(None).await?;
        ongoing(self.wire.call(&addr, &request).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn answers() {
        // v0 (flexible): throttle, error 0, null message, topics [ "t": partitions 1 (adding
        // [3]) and 0 (nothing moving) ], tagged fields.
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i16(0);
        b.put_u8(0); // null compact string
        b.put_u8(2); // one topic
        b.put_u8(2);
        b.put_slice(b"t");
        b.put_u8(3); // two partitions
        for (index, replicas, adding) in [(1i32, &[1i32, 2, 3][..], &[3i32][..]), (0, &[1, 2], &[])]
        {
            b.put_i32(index);
            for list in [replicas, adding, &[][..]] {
                b.put_u8(list.len() as u8 + 1);
                for r in list {
                    b.put_i32(*r);
                }
            }
            b.put_u8(0);
        }
        b.put_u8(0); // topic tagged fields
        b.put_u8(0); // response tagged fields
        let answer = ListPartitionReassignmentsResponse::decode(&mut b.freeze(), 0).unwrap();
        assert_eq!(
            ongoing(answer).unwrap(),
            [Reassignment {
                topic: "t".into(),
                partition: 1,
                replicas: vec![1, 2, 3],
                adding: vec![3],
                removing: vec![],
            }]
        );
    }
}
