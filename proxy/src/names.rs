//! Kafka's rules for the names a client hands us (a small utility: `kafka/` checks every topic
//! name with it before the name reaches the Kafka client library, `rest/` and `config` use it too).
//!
//! The Kafka client library refuses topic names longer than 512 bytes in `rd_kafka_topic_new`,
//! and parts of it (and of its Rust binding) do not expect that refusal: an assignment naming such a topic
//! crashed the process, and a metadata request for one panicked. Kafka itself only allows 1-249
//! characters of `[a-zA-Z0-9._-]`, so every topic name is checked against Kafka's rule, and
//! nothing else ever reaches the client library.

/// Kafka's longest topic name (`Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_LENGTH: usize = 249;

/// Why a topic name is not a legal Kafka topic name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("topic name is empty")]
    Empty,
    #[error("topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error("topic name is {0} characters long; Kafka allows at most 249")]
    TooLong(usize),
    #[error(
        "topic name contains {0:?}; Kafka allows only ASCII letters, digits, '.', '_' and '-'"
    )]
    IllegalCharacter(char),
}

/// Checks `topic` against Kafka's rule (`org.apache.kafka.common.internals.Topic.validate`).
pub fn check_topic(topic: &str) -> Result<(), NameError> {
    if topic.is_empty() {
        return Err(NameError::Empty);
    }
    if topic == "." || topic == ".." {
        return Err(NameError::Dots);
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::IllegalCharacter(c));
    }
    if topic.len() > MAX_TOPIC_LENGTH {
        return Err(NameError::TooLong(topic.len()));
    }
    Ok(())
}

/// A consumer group or instance name as the REST API accepts it. Kafka puts no rule on group
/// ids, but both names become path segments of `base_uri` and log fields, so they are held to
/// the topic rule (with `:` and `@` allowed, which some clients use): 1-249 characters, no
/// spaces, control characters or URL delimiters, and not `.` or `..`.
pub fn check_member_name(name: &str) -> Result<(), MemberNameError> {
    if name.is_empty() {
        return Err(MemberNameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(MemberNameError::Dots);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@')))
    {
        return Err(MemberNameError::IllegalCharacter(c));
    }
    if name.len() > MAX_TOPIC_LENGTH {
        return Err(MemberNameError::TooLong(name.len()));
    }
    Ok(())
}

/// Why a consumer group or instance name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberNameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name cannot be \".\" or \"..\"")]
    Dots,
    #[error(
        "the name contains {0:?}; allowed are ASCII letters, digits, '.', '_', '-', ':' and '@'"
    )]
    IllegalCharacter(char),
    #[error("the name is {0} characters long; at most 249 are allowed")]
    TooLong(usize),
}

/// The deepest nesting of groups and repetitions a pattern may have: regex-syntax's own default
/// (250) still overflowed a 2 MiB thread stack in a debug build (found by the `properties` fuzz
/// target), and patterns come from clients (`topic_pattern`, JSON Schema `patternProperties`).
const PATTERN_NEST_LIMIT: u32 = 64;

/// Compiles a regular expression over names (a subscription pattern, an MQTT topic rule, a JSON
/// Schema property-name pattern) with its nesting bounded, so that a hostile pattern is an
/// error, never a stack overflow.
pub fn pattern(text: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(text)
        .nest_limit(PATTERN_NEST_LIMIT)
        .size_limit(1 << 20)
        .build()
}

/// Topic names matched by a `protected.topics` entry: an exact name, or a prefix ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPatterns(Vec<String>);

impl TopicPatterns {
    /// Parses a comma-separated list; blank entries are skipped.
    pub fn parse(list: &str) -> Self {
        TopicPatterns(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// Adds one exact name unless it is already matched.
    pub fn with(mut self, name: &str) -> Self {
        if !self.matches(name) {
            self.0.push(name.to_string());
        }
        self
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.0.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => topic.starts_with(prefix),
            None => topic == p,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same patterns as a comma-separated list of regexes (the consumers' `topic.blacklist`),
    /// so that pattern subscriptions never see these topics.
    pub fn as_regex_list(&self) -> String {
        self.0
            .iter()
            .map(|p| match p.strip_suffix('*') {
                Some(prefix) => format!("^{}.*", escape(prefix)),
                None => format!("^{}$", escape(p)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Escapes the one regex metacharacter a legal topic name can hold (`.`); any other character
/// is kept, as the client library's small regex engine may not know every escape.
fn escape(name: &str) -> String {
    name.replace('.', r"\.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rule() {
        check_topic("rest-binary.v1_x").unwrap();
        check_topic(&"x".repeat(249)).unwrap();
        assert_eq!(check_topic(""), Err(NameError::Empty));
        assert_eq!(check_topic(".."), Err(NameError::Dots));
        assert_eq!(check_topic(&"z".repeat(250)), Err(NameError::TooLong(250)));
        assert_eq!(check_topic(&"z".repeat(513)), Err(NameError::TooLong(513)));
        assert_eq!(check_topic("a b"), Err(NameError::IllegalCharacter(' ')));
        assert_eq!(check_topic("a/b"), Err(NameError::IllegalCharacter('/')));
        assert_eq!(check_topic("é"), Err(NameError::IllegalCharacter('é')));
        assert_eq!(check_topic("a\0"), Err(NameError::IllegalCharacter('\0')));
    }

    #[test]
    fn member_names() {
        check_member_name("my_consumer_binary").unwrap();
        check_member_name("rest-consumer-1-5b0c7a52-1234").unwrap();
        check_member_name("user@host:1").unwrap();
        for bad in [
            "",
            ".",
            "..",
            "a?b#c",
            "a\r\nb",
            "a b",
            "a/b",
            "%41",
            &"n".repeat(250),
        ] {
            assert!(check_member_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_are_bounded() {
        assert!(pattern("a.*|b(c)+").unwrap().is_match("bcc"));
        let deep = "(".repeat(300) + &")".repeat(300);
        assert!(pattern(&deep).is_err());
        assert!(pattern("(").is_err());
    }

    #[test]
    fn protected_patterns() {
        let p = TopicPatterns::parse("__*, _schemas,")
            .with("_schemas")
            .with("my-registry");
        assert!(p.matches("__consumer_offsets"));
        assert!(p.matches("_schemas"));
        assert!(p.matches("my-registry"));
        assert!(!p.matches("_schemas2"));
        assert!(!p.matches("_x"));
        assert_eq!(p.as_regex_list(), r"^__.*,^_schemas$,^my-registry$");
        assert_eq!(TopicPatterns::parse("a.b").as_regex_list(), r"^a\.b$");
        assert!(TopicPatterns::parse(" , ").is_empty());
    }
}
