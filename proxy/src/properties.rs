//! A reader for Java `.properties` files, the format of Confluent's `kafka-rest.properties`:
//! `key=value`, `key: value` or `key value`; `#`/`!` comments; `\` line continuations; escapes.

use std::collections::BTreeMap;

/// Parses properties text. Later duplicates win, as in `java.util.Properties`.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if ends_with_continuation(line) {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let (k, v) = split_pair(&logical);
        out.insert(unescape(k), unescape(v));
        logical.clear();
    }
    if !logical.is_empty() {
        let (k, v) = split_pair(&logical);
        out.insert(unescape(k), unescape(v));
    }
    out
}

/// An odd number of trailing backslashes continues the line.
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn split_pair(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t']);
    }
    (key, rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_confluent_style_file() {
        let text = "# comment\n! also\nbootstrap.servers=PLAINTEXT://localhost:9092\n\
                    listeners : http://0.0.0.0:8082\nid kafka-rest-1\n\
                    producer.linger.ms = 5\nmulti=a,\\\n   b\nesc=c\\:d\\u0041\nempty=\n";
        let p = parse(text);
        assert_eq!(p["bootstrap.servers"], "PLAINTEXT://localhost:9092");
        assert_eq!(p["listeners"], "http://0.0.0.0:8082");
        assert_eq!(p["id"], "kafka-rest-1");
        assert_eq!(p["producer.linger.ms"], "5");
        assert_eq!(p["multi"], "a,b");
        assert_eq!(p["esc"], "c:dA");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 7);
    }
}
