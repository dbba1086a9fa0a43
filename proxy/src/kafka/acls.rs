//! ACLs for the v3 API: described with a filter (DescribeAcls), created (CreateAcls) and
//! deleted by filter (DeleteAcls), sent to the controller over the wire admin
//! ([`super::wire_admin`]). The enums keep Kafka's codes; their names are Confluent's (which
//! are Kafka's, in the same order).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::error::RDKafkaErrorCode;

use super::admin::Admin;
use super::error::Error;
use super::wire_admin::check;

/// One of the four ACL enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclEnum {
    ResourceType,
    PatternType,
    Operation,
    Permission,
}

impl AclEnum {
    /// Names by Kafka code (0 is UNKNOWN, 1 is ANY).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            AclEnum::ResourceType => &[
                "UNKNOWN",
                "ANY",
                "TOPIC",
                "GROUP",
                "CLUSTER",
                "TRANSACTIONAL_ID",
                "DELEGATION_TOKEN",
            ],
            AclEnum::PatternType => &["UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"],
            AclEnum::Operation => &[
                "UNKNOWN",
                "ANY",
                "ALL",
                "READ",
                "WRITE",
                "CREATE",
                "DELETE",
                "ALTER",
                "DESCRIBE",
                "CLUSTER_ACTION",
                "DESCRIBE_CONFIGS",
                "ALTER_CONFIGS",
                "IDEMPOTENT_WRITE",
            ],
            AclEnum::Permission => &["UNKNOWN", "ANY", "DENY", "ALLOW"],
        }
    }

    /// Confluent's class name of the enum (in its 404 for an unknown value).
    pub fn class(self) -> &'static str {
        match self {
            AclEnum::ResourceType => "ResourceType",
            AclEnum::PatternType => "PatternType",
            AclEnum::Operation => "Operation",
            AclEnum::Permission => "Permission",
        }
    }

    /// The code of a name, case-insensitively.
    pub fn parse(self, text: &str) -> Option<i8> {
        self.names()
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| i as i8)
    }

    /// The name of a code (UNKNOWN for codes this proxy does not know).
    pub fn name(self, code: i8) -> &'static str {
        usize::try_from(code)
            .ok()
            .and_then(|i| self.names().get(i))
            .copied()
            .unwrap_or("UNKNOWN")
    }
}

/// Codes with a meaning of their own.
pub const UNKNOWN: i8 = 0;
pub const ANY: i8 = 1;
pub const MATCH: i8 = 2;

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// Which ACLs (None: any name, principal or host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

/// A DescribeAcls request or DeleteAcls filter (the same fields, two generated types) set
/// from an [`AclFilter`].
macro_rules! with_filter {
    ($message:expr, $filter:expr) => {
        $message
            .with_resource_type_filter($filter.resource_type)
            .with_resource_name_filter(opt(&$filter.resource_name))
            .with_pattern_type_filter($filter.pattern_type)
            .with_principal_filter(opt(&$filter.principal))
            .with_host_filter(opt(&$filter.host))
            .with_operation($filter.operation)
            .with_permission_type($filter.permission)
    };
}

fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

fn opt(s: &Option<String>) -> Option<StrBytes> {
    s.clone().map(StrBytes::from_string)
}

/// The ACLs a DescribeAcls answer lists, sorted as Confluent sorts them.
fn described(answer: DescribeAclsResponse) -> Result<Vec<AclBinding>, Error> {
    check(answer.error_code, answer.error_message.as_ref())?;
    let mut out: Vec<AclBinding> = answer
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| AclBinding {
                resource_type: r.resource_type,
                resource_name: text(&r.resource_name),
                pattern_type: r.pattern_type,
                principal: text(&a.principal),
                host: text(&a.host),
                operation: a.operation,
                permission: a.permission_type,
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The first refusal of a CreateAcls answer to `count` creations. A broker that answers
/// fewer results than creations has not confirmed them: that is an error too.
fn created(answer: CreateAclsResponse, count: usize) -> Result<(), Error> {
    for r in &answer.results {
        check(r.error_code, r.error_message.as_ref())?;
    }
    if answer.results.len() != count {
        return Err(Error::Admin {
            code: RDKafkaErrorCode::Unknown,
            message: format!(
                "The broker answered {} results to {count} ACL creations: none is confirmed",
                answer.results.len()
            ),
        });
    }
    Ok(())
}

/// The ACLs a DeleteAcls answer (to one filter) says it deleted, sorted.
fn deleted(answer: DeleteAclsResponse) -> Result<Vec<AclBinding>, Error> {
    let Some(result) = answer.filter_results.first() else {
        return Err(Error::Admin {
            code: RDKafkaErrorCode::Unknown,
            message: "The broker answered no result to the ACL deletion".into(),
        });
    };
    check(result.error_code, result.error_message.as_ref())?;
    let mut out: Vec<AclBinding> = result
        .matching_acls
        .iter()
        .filter(|m| m.error_code == 0)
        .map(|m| AclBinding {
            resource_type: m.resource_type,
            resource_name: text(&m.resource_name),
            pattern_type: m.pattern_type,
            principal: text(&m.principal),
            host: text(&m.host),
            operation: m.operation,
            permission: m.permission_type,
        })
        .collect();
    out.sort();
    Ok(out)
}

impl Admin {
    /// The ACLs matching `filter`.
    pub async fn acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, Error> {
        let request = with_filter!(DescribeAclsRequest::default(), filter);
        let addr = self.broker_address(None).await?;
        described(self.wire.call(&addr, &request).await?)
    }

    /// Creates `acls` in one request; the first refusal fails the call.
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), Error> {
        if acls.is_empty() {
            return Ok(());
        }
        let request = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|a| {
                    AclCreation::default()
                        .with_resource_type(a.resource_type)
                        .with_resource_name(StrBytes::from_string(a.resource_name.clone()))
                        .with_resource_pattern_type(a.pattern_type)
                        .with_principal(StrBytes::from_string(a.principal.clone()))
                        .with_host(StrBytes::from_string(a.host.clone()))
                        .with_operation(a.operation)
                        .with_permission_type(a.permission)
                })
                .collect(),
        );
        let addr = self.broker_address(None).await?;
        created(self.wire.call(&addr, &request).await?, acls.len())
    }

    /// Deletes the ACLs matching `filter`; the ACLs deleted.
    pub async fn delete_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, Error> {
        let request = DeleteAclsRequest::default()
            .with_filters(vec![with_filter!(DeleteAclsFilter::default(), filter)]);
        let addr = self.broker_address(None).await?;
        deleted(self.wire.call(&addr, &request).await?)
    }
}

#[cfg(test)]
mod tests {
    //! The answers are decoded from bytes as Apache Kafka writes them (v1, non-flexible), so
    //! the interpretation is checked against the wire format, not against the codec's structs.
    use super::*;
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::protocol::Decodable;

    fn string(b: &mut BytesMut, s: &str) {
        b.put_i16(s.len() as i16);
        b.put_slice(s.as_bytes());
    }

    #[test]
    fn enums() {
        assert_eq!(AclEnum::ResourceType.parse("topic"), Some(2));
        assert_eq!(AclEnum::Operation.parse("IDEMPOTENT_WRITE"), Some(12));
        assert_eq!(AclEnum::Permission.parse("maybe"), None);
        assert_eq!(AclEnum::PatternType.name(4), "PREFIXED");
        assert_eq!(AclEnum::PatternType.name(9), "UNKNOWN");
    }

    #[test]
    fn describe_answers() {
        // throttle, error 0, null message, 1 resource: TOPIC "t" LITERAL with two ACLs.
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i16(0);
        b.put_i16(-1);
        b.put_i32(1);
        b.put_i8(2);
        string(&mut b, "t");
        b.put_i8(3);
        b.put_i32(2);
        for (principal, op, perm) in [("User:bob", 4i8, 3i8), ("User:alice", 3, 3)] {
            string(&mut b, principal);
            string(&mut b, "*");
            b.put_i8(op);
            b.put_i8(perm);
        }
        let answer = DescribeAclsResponse::decode(&mut b.freeze(), 1).unwrap();
        let acls = described(answer).unwrap();
        assert_eq!(acls.len(), 2);
        // Sorted: READ (3) before WRITE (4).
        assert_eq!(
            acls[0],
            AclBinding {
                resource_type: 2,
                resource_name: "t".into(),
                pattern_type: 3,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: 3,
                permission: 3,
            }
        );
        // SECURITY_DISABLED (54), as a broker without an authorizer answers.
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i16(54);
        string(&mut b, "No Authorizer is configured on the broker");
        b.put_i32(0);
        let answer = DescribeAclsResponse::decode(&mut b.freeze(), 1).unwrap();
        let e = described(answer).unwrap_err();
        assert_eq!(e.to_string(), "No Authorizer is configured on the broker");
        assert_eq!(e.class(), crate::kafka::ErrorClass::Invalid);
    }

    #[test]
    fn create_answers() {
        let answer = |codes: &[i16]| {
            let mut b = BytesMut::new();
            b.put_i32(0);
            b.put_i32(codes.len() as i32);
            for c in codes {
                b.put_i16(*c);
                b.put_i16(-1);
            }
            CreateAclsResponse::decode(&mut b.freeze(), 1).unwrap()
        };
        assert!(created(answer(&[0, 0]), 2).is_ok());
        let refused = created(answer(&[0, 31]), 2).unwrap_err();
        assert_eq!(refused.class(), crate::kafka::ErrorClass::Authorization);
        // Tansu 0.6 answers no results at all.
        let silent = created(answer(&[]), 1).unwrap_err();
        assert!(silent.to_string().contains("none is confirmed"), "{silent}");
    }

    #[test]
    fn delete_answers() {
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i32(1); // one filter result
        b.put_i16(0);
        b.put_i16(-1);
        b.put_i32(2); // two matching ACLs, the second not deleted
        for code in [0i16, 37] {
            b.put_i16(code);
            b.put_i16(-1);
            b.put_i8(3);
            string(&mut b, "g");
            b.put_i8(4);
            string(&mut b, "User:x");
            string(&mut b, "h");
            b.put_i8(3);
            b.put_i8(2);
        }
        let answer = DeleteAclsResponse::decode(&mut Bytes::from(b), 1).unwrap();
        let gone = deleted(answer).unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(
            (
                gone[0].resource_type,
                gone[0].pattern_type,
                gone[0].permission
            ),
            (3, 4, 2)
        );
    }
}
