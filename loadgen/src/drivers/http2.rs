//! The REST driver's HTTP/2 connections (`workload.http2`): h2c by prior knowledge, as clients
//! that multiplex reach the proxy (`curl --http2-prior-knowledge`, gRPC-style clients, browsers
//! behind an h2 front). A phase's clients share `workload.http2_connections` TCP connections,
//! each client one stream at a time; the `h2` crate (hyper's own) frames them.
//!
//! Requests stay the bytes [`super::http1::Endpoint::request`] builds (so every other part of the
//! driver, schema ids written into their blanks included, is the same for both protocols): each
//! is read with `httparse` when sent, and its method, path, `Content-Type` and body go out as one
//! HTTP/2 request (the body not copied). The URI and type are built once per path and type.

use anyhow::Context;
use bytes::Bytes;
use h2::client::SendRequest;

use super::http1::{Endpoint, Response};

/// Flow-control windows large enough that a produce body never waits for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Opens `connections` h2c connections to `endpoint`; each one's frames are driven by a task of
/// the current runtime until every handle on it is dropped.
pub async fn connect_all(
    endpoint: &Endpoint,
    connections: usize,
) -> anyhow::Result<Vec<SendRequest<Bytes>>> {
    let mut out = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let tcp = endpoint.connect().await?;
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(tcp)
            .await
            .with_context(|| format!("HTTP/2 handshake with {}", endpoint.authority))?;
        // A connection's end (or error) is seen by its streams, whose sends then fail.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        out.push(send);
    }
    Ok(out)
}

/// One client's handle on a shared HTTP/2 connection.
pub struct Stream {
    send: SendRequest<Bytes>,
    authority: String,
    /// The last request head's path and `Content-Type` bytes, and what they became: reused while
    /// they stay the same (every request of a phase but the first few).
    head: Option<Head>,
}

struct Head {
    path: Bytes,
    content_type: Bytes,
    uri: http::Uri,
    content_type_value: Option<http::HeaderValue>,
}

impl Stream {
    pub fn new(send: SendRequest<Bytes>, endpoint: &Endpoint) -> Stream {
        Stream {
            send,
            authority: endpoint.authority.clone(),
            head: None,
        }
    }

    /// Sends a request built by [`Endpoint::request`] as an HTTP/2 request and reads its answer.
    pub async fn send(&mut self, request: &Bytes) -> anyhow::Result<Response> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(request)? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => anyhow::bail!("an incomplete request was built"),
        };
        let method = match parsed.method.unwrap_or("GET") {
            "POST" => http::Method::POST,
            "GET" => http::Method::GET,
            other => http::Method::from_bytes(other.as_bytes())?,
        };
        let path = parsed.path.unwrap_or("/").as_bytes();
        let content_type = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-type"))
            .map_or(&b""[..], |h| h.value);
        let head = match &self.head {
            Some(head) if head.path == path && head.content_type == content_type => head,
            _ => {
                let uri: http::Uri =
                    format!("http://{}{}", self.authority, std::str::from_utf8(path)?).parse()?;
                let content_type_value = match content_type.is_empty() {
                    true => None,
                    false => Some(http::HeaderValue::from_bytes(content_type)?),
                };
                self.head.insert(Head {
                    path: Bytes::copy_from_slice(path),
                    content_type: Bytes::copy_from_slice(content_type),
                    uri,
                    content_type_value,
                })
            }
        };
        let mut h2_request = http::Request::new(());
        *h2_request.method_mut() = method;
        *h2_request.uri_mut() = head.uri.clone();
        if let Some(value) = &head.content_type_value {
            h2_request
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value.clone());
        }
        let body = request.slice(head_len..);
        futures_util::future::poll_fn(|cx| self.send.poll_ready(cx)).await?;
        let (answer, mut stream) = self.send.send_request(h2_request, body.is_empty())?;
        if !body.is_empty() {
            stream.send_data(body, true)?;
        }
        let (parts, mut body) = answer.await?.into_parts();
        // An answer is usually one DATA frame: kept as it came, copied only when there are more.
        let mut chunks: Vec<Bytes> = Vec::with_capacity(1);
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            chunks.push(chunk);
        }
        let body = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().expect("one chunk"),
            _ => Bytes::from(chunks.concat()),
        };
        Ok(Response {
            status: parts.status.as_u16(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the proxy's own server stack (hyper, HTTP/2 by prior knowledge): the request's
    /// method, path, type and body arrive; the answer and its status come back.
    #[tokio::test]
    async fn requests_go_out_as_http2_and_answers_come_back() {
        use hyper::server::conn::http2;
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    assert_eq!(req.version(), http::Version::HTTP_2);
                    let head = format!(
                        "{} {} {}",
                        req.method(),
                        req.uri().path(),
                        req.headers()["content-type"].to_str().unwrap()
                    );
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let answer = format!("{head} {}", String::from_utf8_lossy(&body));
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .status(201)
                            .body(http_body_util::Full::new(Bytes::from(answer)))
                            .unwrap(),
                    )
                },
            );
            http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await
                .unwrap();
        });
        let endpoint = Endpoint::parse(&format!("http://{addr}/prefix")).unwrap();
        let send = connect_all(&endpoint, 1).await.unwrap().remove(0);
        let mut a = Stream::new(send.clone(), &endpoint);
        let mut b = Stream::new(send, &endpoint);
        let post = endpoint.request(
            "POST",
            "/topics/t",
            &[("Content-Type", "a/b")],
            b"{\"x\":1}",
        );
        let (ra, rb) = tokio::join!(a.send(&post), b.send(&post));
        for r in [ra.unwrap(), rb.unwrap(), a.send(&post).await.unwrap()] {
            assert_eq!(r.status, 201);
            assert_eq!(&r.body[..], b"POST /prefix/topics/t a/b {\"x\":1}");
        }
    }
}
