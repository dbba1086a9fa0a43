#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proxy_fuzz::one_pass_request(data));
