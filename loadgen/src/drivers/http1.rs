//! The REST driver's HTTP/1.1 connection: one TCP connection per client, held open for the whole
//! phase; each request is written from bytes built before the clock started (request line,
//! headers and body in one buffer, one `write`), and each answer is parsed in place with
//! `httparse` (Content-Length or chunked bodies). Nothing else happens per request: no URL
//! parsing, no header maps, no pool lookup, no timer registration.
//!
//! Hand-written for speed, as the guide allows: the harness must measure the proxy, not its own
//! client, and on a 2-core machine every µs the client spends is taken from the proxy. Through
//! goose's reqwest client the driver reached 13.2k single-record requests/s where `wrk` (same
//! proxy, same connection count) reached 22.0k; the cross-check (`workload.wrk_crosscheck`) keeps
//! the two side by side.

use std::time::Duration;

use anyhow::Context;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where a REST base URL points: `host:port` to connect to, and the path prefix to put before
/// every request path (empty for a proxy at the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub authority: String,
    pub prefix: String,
}

impl Endpoint {
    /// Parses `http://HOST[:PORT][/PREFIX]` (port 80 by default). HTTPS is not spoken here.
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("the REST driver speaks plain http://, got {url}"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        anyhow::ensure!(!authority.is_empty(), "no host in {url}");
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            authority,
            prefix: prefix.to_string(),
        })
    }

    /// A TCP connection to the endpoint (within 10 s), without Nagle's delay.
    pub async fn connect(&self) -> anyhow::Result<TcpStream> {
        let stream =
            tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&self.authority))
                .await
                .map_err(|_| anyhow::anyhow!("connecting to {}: timed out", self.authority))?
                .with_context(|| format!("connecting to {}", self.authority))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// A complete request: `METHOD PREFIX+PATH HTTP/1.1`, Host, the given headers, and the body
    /// with its Content-Length.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Bytes {
        let mut out = BytesMut::with_capacity(128 + body.len());
        out.extend_from_slice(method.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.authority.as_bytes());
        for (name, value) in headers {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
        }
        if method != "GET" || !body.is_empty() {
            out.extend_from_slice(format!("\r\nContent-Length: {}", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        out.freeze()
    }
}

/// An answer: status and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// One open connection.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// The server said `Connection: close`: reconnect before the next request.
    closed: bool,
    endpoint: Endpoint,
}

impl Conn {
    pub async fn connect(endpoint: &Endpoint) -> anyhow::Result<Conn> {
        let stream = endpoint.connect().await?;
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            closed: false,
            endpoint: endpoint.clone(),
        })
    }

    /// Sends a request built by [`Endpoint::request`] and reads its answer, giving up at
    /// `deadline` (the phase's timeout: a proxy that stops answering fails the run, exit 2).
    pub async fn send_by(
        &mut self,
        request: &[u8],
        deadline: std::time::Instant,
    ) -> anyhow::Result<Response> {
        tokio::time::timeout_at(deadline.into(), self.send(request))
            .await
            .map_err(|_| {
                anyhow::anyhow!("no answer before the phase's deadline (phase_timeout_s)")
            })?
    }

    /// Sends a request built by [`Endpoint::request`] and reads its answer.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<Response> {
        self.write(request).await?;
        self.answer().await
    }

    /// Sends a request built by [`Endpoint::request`] without reading its answer: with
    /// [`Conn::answer`], a client may send its next request before it has read the last answer
    /// (HTTP/1.1 pipelining; the server answers in order).
    pub async fn write(&mut self, request: &[u8]) -> anyhow::Result<()> {
        if self.closed {
            *self = Conn::connect(&self.endpoint).await?;
        }
        self.stream.write_all(request).await?;
        Ok(())
    }

    /// Reads the answer to the oldest request sent and not answered yet.
    pub async fn answer(&mut self) -> anyhow::Result<Response> {
        loop {
            if let Some(response) = self.parse()? {
                return Ok(response);
            }
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let n = self.stream.read_buf(&mut self.buf).await?;
            anyhow::ensure!(n > 0, "the server closed the connection before answering");
        }
    }

    /// A complete answer at the front of the buffer, taken out of it; None when more bytes are
    /// needed.
    fn parse(&mut self) -> anyhow::Result<Option<Response>> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        let head_len = match head.parse(&self.buf)? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let status = head.code.unwrap_or(0);
        let (mut length, mut chunked, mut close) = (None, false, false);
        for h in head.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or_else(|| anyhow::anyhow!("bad Content-Length"))?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                close = h.value.eq_ignore_ascii_case(b"close");
            }
        }
        let body = if chunked {
            match dechunk(&self.buf[head_len..])? {
                Some((body, used)) => {
                    self.buf.advance(head_len + used);
                    body
                }
                None => return Ok(None),
            }
        } else {
            let length = length.unwrap_or(0);
            let end = head_len
                .checked_add(length)
                .ok_or_else(|| anyhow::anyhow!("Content-Length {length} out of range"))?;
            if self.buf.len() < end {
                return Ok(None);
            }
            self.buf.advance(head_len);
            self.buf.split_to(length).freeze()
        };
        self.closed |= close;
        Ok(Some(Response { status, body }))
    }
}

/// Decodes a complete chunked body at the front of `data`: (body, bytes used), or None when it
/// is not all there yet.
fn dechunk(data: &[u8]) -> anyhow::Result<Option<(Bytes, usize)>> {
    let mut body = BytesMut::new();
    let mut at = 0;
    loop {
        let Some(eol) = find_crlf(&data[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[at..at + eol])?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| anyhow::anyhow!("bad chunk size {size_text:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(eol) = find_crlf(&data[at..]) else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some((body.freeze(), at)));
                }
            }
        }
        let end = at
            .checked_add(size)
            .and_then(|n| n.checked_add(2))
            .ok_or_else(|| anyhow::anyhow!("chunk size {size} out of range"))?;
        if data.len() < end {
            return Ok(None);
        }
        body.extend_from_slice(&data[at..at + size]);
        anyhow::ensure!(&data[at + size..at + size + 2] == b"\r\n", "bad chunk end");
        at += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_requests() {
        let e = Endpoint::parse("http://127.0.0.1:8082").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8082");
        assert_eq!(e.prefix, "");
        let e = Endpoint::parse("http://proxy/kafka/").unwrap();
        assert_eq!(e.authority, "proxy:80");
        assert_eq!(e.prefix, "/kafka");
        assert!(Endpoint::parse("https://x:1").is_err());
        let r = e.request("POST", "/topics/t", &[("Content-Type", "a/b")], b"{}");
        assert_eq!(
            &r[..],
            b"POST /kafka/topics/t HTTP/1.1\r\nHost: proxy:80\r\nContent-Type: a/b\r\nContent-Length: 2\r\n\r\n{}"
        );
        let g = e.request("GET", "/x", &[], b"");
        assert!(!String::from_utf8_lossy(&g).contains("Content-Length"));
    }

    #[test]
    fn chunked_bodies_decode_only_when_complete() {
        let data = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let (body, used) = dechunk(data).unwrap().unwrap();
        assert_eq!(&body[..], b"Wikipedia");
        assert_eq!(&data[used..], b"NEXT");
        for cut in 0..data.len() - 4 {
            assert!(dechunk(&data[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(
            dechunk(b"ffffffffffffffff\r\nx").is_err(),
            "an absurd size is an error"
        );
    }

    #[tokio::test]
    async fn answers_are_read_whole_across_reads_and_pipelined_leftovers_kept() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            // First request: a Content-Length answer written in two pieces.
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(b"56789").await.unwrap();
            // Second: chunked, then close.
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            )
            .await
            .unwrap();
        });
        let e = Endpoint::parse(&format!("http://{addr}")).unwrap();
        let mut c = Conn::connect(&e).await.unwrap();
        let req = e.request("POST", "/t", &[], b"x");
        let r = c.send(&req).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"0123456789"[..]));
        let r = c.send(&req).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (404, &b"abc"[..]));
        assert!(c.closed);
        server.await.unwrap();
    }

    /// Requests written back to back are answered in order, each answer read whole.
    #[tokio::test]
    async fn pipelined_requests_get_their_answers_in_order() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 4096];
            // Both requests arrive before either is answered.
            while seen.windows(4).filter(|w| w == b"\r\n\r\n").count() < 2 {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                seen.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsecond")
                .await
                .unwrap();
        });
        let e = Endpoint::parse(&format!("http://{addr}")).unwrap();
        let mut c = Conn::connect(&e).await.unwrap();
        let req = e.request("GET", "/t", &[], b"");
        c.write(&req).await.unwrap();
        c.write(&req).await.unwrap();
        let r = c.answer().await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"first"[..]));
        let r = c.answer().await.unwrap();
        assert_eq!((r.status, &r.body[..]), (201, &b"second"[..]));
        server.await.unwrap();
    }
}
