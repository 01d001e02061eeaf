#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::secret_reference(data));
