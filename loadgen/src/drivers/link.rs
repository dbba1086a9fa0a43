//! A REST client's way to the server in a produce phase: a TCP connection of its own speaking
//! HTTP/1.1 ([`super::http1`]), or a stream at a time on an HTTP/2 connection it shares with other
//! clients ([`super::http2`], `workload.http2`).

use bytes::Bytes;

use super::http1::{Conn, Endpoint, Response};
use super::http2;

pub enum Link {
    Http1(Conn),
    Http2(http2::Stream),
}

impl Link {
    /// `clients` links to `endpoint`: one HTTP/1.1 connection each, or with `http2_connections`
    /// that many h2c connections, dealt round-robin.
    pub async fn open_all(
        endpoint: &Endpoint,
        clients: usize,
        http2_connections: Option<usize>,
    ) -> anyhow::Result<Vec<Link>> {
        match http2_connections {
            None => {
                futures_util::future::try_join_all(
                    (0..clients).map(|_| async { Ok(Link::Http1(Conn::connect(endpoint).await?)) }),
                )
                .await
            }
            Some(connections) => {
                let shared = http2::connect_all(endpoint, connections.min(clients)).await?;
                Ok((0..clients)
                    .map(|i| {
                        Link::Http2(http2::Stream::new(
                            shared[i % shared.len()].clone(),
                            endpoint,
                        ))
                    })
                    .collect())
            }
        }
    }

    /// Sends a request built by [`Endpoint::request`] and reads its answer.
    pub async fn send(&mut self, request: &Bytes) -> anyhow::Result<Response> {
        match self {
            Link::Http1(conn) => conn.send(request).await,
            Link::Http2(stream) => stream.send(request).await,
        }
    }
}
