//! Base64, the binary format's cost per key and value, both ways: the `base64` crate's scalar
//! engine against `base64-simd` (which the proxy uses), at a typical value size and a larger one.

use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn base64(c: &mut Criterion) {
    let mut group = c.benchmark_group("base64");
    for size in [100usize, 1000] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encode/base64", size), &data, |b, data| {
            let mut out = vec![0u8; text.len()];
            b.iter(|| {
                base64::engine::general_purpose::STANDARD
                    .encode_slice(data, &mut out)
                    .expect("fits")
            })
        });
        group.bench_with_input(BenchmarkId::new("encode/simd", size), &data, |b, data| {
            let mut out = vec![0u8; text.len()];
            b.iter(|| {
                base64_simd::STANDARD
                    .encode(data, base64_simd::Out::from_slice(&mut out))
                    .len()
            })
        });
        group.bench_with_input(BenchmarkId::new("decode/base64", size), &text, |b, text| {
            let mut out = vec![0u8; size];
            b.iter(|| {
                base64::engine::general_purpose::STANDARD
                    .decode_slice(text, &mut out)
                    .expect("valid")
            })
        });
        group.bench_with_input(BenchmarkId::new("decode/simd", size), &text, |b, text| {
            let mut out = vec![0u8; size];
            b.iter(|| {
                base64_simd::STANDARD
                    .decode(text.as_bytes(), base64_simd::Out::from_slice(&mut out))
                    .expect("valid")
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, base64);
criterion_main!(benches);
