#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::refresh_event(data));
