//! Reading one whole response frame (size-prefixed) from a broker connection: shared by the
//! batch engine's connection set-up ([`super::connection`]) and its SASL exchange
//! ([`super::sasl_client`]).

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;

/// Largest answer accepted from a broker.
pub(super) const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// One response frame, without its size prefix.
pub(super) async fn read_frame(read: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Bytes> {
    let size = read.read_i32().await?;
    if !(4..=MAX_FRAME_BYTES as i32).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad response size {size}"),
        ));
    }
    let mut buf = BytesMut::zeroed(size as usize);
    read.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}
