//! Which HTTP a new connection speaks: on `https://`, what TLS's ALPN picked; on `http://`,
//! HTTP/2 when its first bytes are HTTP/2's connection preface (h2c by prior knowledge), HTTP/1.1
//! otherwise. The preface is looked at without being read ([`TcpStream::peek`]), so whichever
//! server takes the connection reads it from the start, and the wait for it is bounded: a client
//! that connects and sends nothing, or part of the preface, is dropped after
//! `http.header.read.timeout.ms`, as a slow HTTP/1.1 header is.

use std::time::Duration;

use tokio::net::TcpStream;

/// HTTP/2's client connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// What `first` (a connection's first bytes so far) says: `None` while it is a proper prefix of
/// the preface, so more bytes are needed.
fn from_first_bytes(first: &[u8]) -> Option<Protocol> {
    let n = first.len().min(PREFACE.len());
    if first[..n] != PREFACE[..n] {
        Some(Protocol::Http1)
    } else if n == PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// The protocol of a plain connection, from its first bytes, waiting for them at most `within`;
/// `None` when the client closed or sent too little in time.
pub async fn of_plain(stream: &TcpStream, within: Duration) -> Option<Protocol> {
    let deadline = tokio::time::Instant::now() + within;
    let mut first = [0u8; PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        if let Some(protocol) = from_first_bytes(&first[..n]) {
            return Some(protocol);
        }
        // Part of the preface: peek returns it again at once until more arrives, so wait a
        // little before looking again (clients send the preface in one write; this is rare).
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The protocol TLS's ALPN picked (HTTP/1.1 without ALPN).
pub fn of_alpn(alpn: Option<&[u8]>) -> Protocol {
    match alpn {
        Some(b"h2") => Protocol::Http2,
        _ => Protocol::Http1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_and_nothing_else_is_http2() {
        assert_eq!(from_first_bytes(PREFACE), Some(Protocol::Http2));
        assert_eq!(
            from_first_bytes(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"),
            Some(Protocol::Http2)
        );
        assert_eq!(from_first_bytes(b"PRI * HTTP/2"), None);
        assert_eq!(from_first_bytes(b"P"), None);
        assert_eq!(
            from_first_bytes(b"POST /topics/t HTTP/1.1\r\n"),
            Some(Protocol::Http1)
        );
        assert_eq!(
            from_first_bytes(b"GET / HTTP/1.1\r\n"),
            Some(Protocol::Http1)
        );
        assert_eq!(
            from_first_bytes(b"PRI * HTTP/1.1\r\n"),
            Some(Protocol::Http1)
        );
        assert_eq!(of_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(of_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(of_alpn(None), Protocol::Http1);
    }

    #[tokio::test]
    async fn plain_connections_are_told_apart_and_silent_ones_dropped_in_time() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let within = Duration::from_millis(300);
        for (sent, expected) in [
            (&b"GET / HTTP/1.1\r\n"[..], Some(Protocol::Http1)),
            (&PREFACE[..], Some(Protocol::Http2)),
            (&b""[..], None),
            (&b"PRI * HTTP/2.0\r\n"[..], None),
        ] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(sent).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let started = std::time::Instant::now();
            assert_eq!(of_plain(&server, within).await, expected, "{sent:?}");
            if expected.is_none() {
                assert!(started.elapsed() >= within, "{sent:?} waited its time");
                assert!(started.elapsed() < within * 3, "{sent:?} not much longer");
            }
            // Looking did not consume anything: the server still reads what was sent.
            let mut seen = vec![0u8; sent.len()];
            if !sent.is_empty() {
                use tokio::io::AsyncReadExt;
                let mut server = server;
                server.read_exact(&mut seen).await.unwrap();
                assert_eq!(seen, sent);
            }
        }
    }
}
