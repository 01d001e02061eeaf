#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::schedules_json(data));
