//! `mqtt.topic.regex.list`: which Kafka topic an MQTT topic's publishes go to. Part of the
//! configuration (the syntax of one key); the MQTT listener matches publishes against it.

/// Why `mqtt.topic.regex.list` was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopicRuleError {
    #[error("`{0}` is not kafka_topic:regex")]
    NotAPair(String),
    #[error("`{0}`: {1}")]
    Regex(String, regex::Error),
}

/// One `kafka_topic:regex` pair of `mqtt.topic.regex.list`.
#[derive(Debug, Clone)]
pub struct TopicRule {
    pub kafka_topic: String,
    /// Anchored: the whole MQTT topic must match.
    pub regex: regex::Regex,
}

impl TopicRule {
    /// Parses Confluent's syntax: pairs split by `,`, each split at its first `:`, trimmed.
    pub fn parse_list(text: &str) -> Result<Vec<TopicRule>, TopicRuleError> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (topic, pattern) = pair
                    .split_once(':')
                    .ok_or_else(|| TopicRuleError::NotAPair(pair.to_string()))?;
                let (topic, pattern) = (topic.trim(), pattern.trim());
                if topic.is_empty() || pattern.is_empty() {
                    return Err(TopicRuleError::NotAPair(pair.to_string()));
                }
                let regex = crate::names::pattern(&format!("^(?:{pattern})$"))
                    .map_err(|e| TopicRuleError::Regex(pattern.to_string(), e))?;
                Ok(TopicRule {
                    kafka_topic: topic.to_string(),
                    regex,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluent_topic_regex_list() {
        let rules =
            TopicRule::parse_list("temperature:.*temperature, brightness:.*brightness,other:a:b")
                .unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules[0].regex.is_match("car/engine/temperature"));
        // The whole topic must match.
        assert!(!rules[0].regex.is_match("temperature/car"));
        assert_eq!(rules[2].kafka_topic, "other");
        assert!(rules[2].regex.is_match("a:b"), "split at the first colon");
        assert!(TopicRule::parse_list("no-colon").is_err());
        assert!(TopicRule::parse_list("t:(").is_err());
    }
}
