//! Zig-zag varints, written the same way by Kafka's record format (`kafka/wire`), Avro's `int` and
//! `long` (`formats/avro`) and the message indexes of Confluent's Protobuf framing
//! (`schema/proto`): one leaf that all three use, reading ([`read_int`]) and writing. A zig-zag varint of a 32-bit value is the one of
//! the same value widened to 64 bits, so one function serves both.

use bytes::BufMut;

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 → 0, 1, 2, 3.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends `v` in 7-bit groups, low first, the high bit marking a continuation.
pub fn put_uvarint(out: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Bytes [`put_uvarint`] writes for `v`.
pub fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends `n` as a zig-zag varint (Avro's `long`, Kafka's varint and varlong).
pub fn put_long(out: &mut impl BufMut, n: i64) {
    put_uvarint(out, zigzag(n));
}

/// Bytes [`put_long`] writes for `n`.
pub fn long_len(n: i64) -> usize {
    uvarint_len(zigzag(n))
}

/// Reads a zig-zag varint of a 32-bit value from the front of `data`, advancing it.
pub fn read_int(data: &mut &[u8]) -> Result<i32, VarintError> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) = data.split_first().ok_or(VarintError::Truncated)?;
        *data = rest;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value >> 1) as i32 ^ -((value & 1) as i32));
        }
    }
    Err(VarintError::TooLong)
}

/// Why a varint does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    #[error("a truncated varint")]
    Truncated,
    #[error("a varint longer than 5 bytes")]
    TooLong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_read_back_and_bad_varints_are_refused() {
        for n in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            put_long(&mut out, i64::from(n));
            let mut data = &out[..];
            assert_eq!(read_int(&mut data), Ok(n));
            assert!(data.is_empty());
        }
        assert_eq!(read_int(&mut &[0x80][..]), Err(VarintError::Truncated));
        assert_eq!(
            read_int(&mut &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..]),
            Err(VarintError::TooLong)
        );
    }

    #[test]
    fn zigzag_varints_match_the_specifications_examples() {
        // Avro's spec: 0 → 00, -1 → 01, 1 → 02, -2 → 03, 2 → 04, -64 → 7f, 64 → 80 01.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (2, &[0x04]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (n, bytes) in cases {
            let mut out = Vec::new();
            put_long(&mut out, *n);
            assert_eq!(&out[..], *bytes, "{n}");
            assert_eq!(long_len(*n), bytes.len(), "{n}");
        }
        // 32-bit values widen to the same encoding.
        for v in [i32::MIN, -300, -1, 0, 1, 300, i32::MAX] {
            let narrow = ((v << 1) ^ (v >> 31)) as u32;
            assert_eq!(zigzag(i64::from(v)), u64::from(narrow), "{v}");
        }
        let mut b = bytes::BytesMut::new();
        put_uvarint(&mut b, 300);
        assert_eq!(&b[..], &[0xac, 0x02]);
        assert_eq!(uvarint_len(u64::MAX), 10);
        // The length without writing, at every group boundary.
        for k in 0..64 {
            for v in [(1u64 << k) - 1, 1u64 << k, (1u64 << k) + 1] {
                let mut out = Vec::new();
                put_uvarint(&mut out, v);
                assert_eq!(uvarint_len(v), out.len(), "{v}");
            }
        }
    }
}
