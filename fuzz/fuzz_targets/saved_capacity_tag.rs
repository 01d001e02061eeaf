#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::saved_capacity_tag(data));
