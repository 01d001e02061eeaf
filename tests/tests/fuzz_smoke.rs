//! A bounded, deterministic fuzz pass over every parser of outside input, on the stable
//! toolchain, so CI runs one: each target gets `FUZZ_ITERATIONS` (default 20 000) mutations of the
//! sample events and hand-made seeds, and must never panic. `scripts/fuzz` runs the coverage-guided
//! cargo-fuzz targets under `fuzz/` for longer where a nightly toolchain and cargo-fuzz exist.

use shared::fuzzing::TARGETS;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e309",
    b"\0",
    b"\xff",
    b"\r\n",
    b"ALARM",
    b"Budget Name: ",
    b"Alert Type: ACTUAL\n",
    b"$1,234.56",
    b"24:00",
    b"Mon-Sun",
    b"rediss://",
    b"%",
    b"@",
    b"desired=",
    b" min=",
    b"_clone",
    b"\"Records\"",
    b"\"Sns\"",
    b"\"Message\"",
    b"\"Step\"",
    b"\"impact\"",
    b"\"totalImpact\"",
    b"SERVICE_DEPLOYMENT_COMPLETED",
    b"Secret Label Updated",
    b"arn:aws:secretsmanager:us-east-1:123456789012:secret:",
    b"::AWSPREVIOUS:",
    b"version=",
    b" at=",
];

fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let events = tests::root().join("events");
    for dir in std::fs::read_dir(&events).expect("events/").flatten() {
        for file in std::fs::read_dir(dir.path())
            .expect("an events folder")
            .flatten()
        {
            let bytes = std::fs::read(file.path()).expect("a sample event");
            // SNS-wrapped samples: their inner message is a seed of its own.
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                && let Some(m) = v["Records"][0]["Sns"]["Message"].as_str()
            {
                out.push(m.as_bytes().to_vec());
            }
            out.push(bytes);
        }
    }
    for s in [
        r#"{"username":"app","password":"p","engine":"postgres","host":"h","port":5432,"dbname":"d","masterarn":"arn"}"#,
        r#"{"url":"rediss://app:p%40ss@cache:6380/0","adminarn":"arn"}"#,
        r#"{"username":"a","password":"b","host":"h","port":"6379","tls":true}"#,
        r#"{"apiKey":"sk-proj-0123456789","org":"o"}"#,
        "sk-proj-0123456789abcdef",
        r#"[{"name":"n","offCapacity":1,"timeZone":"Europe/London","onHours":[{"days":["Mon-Fri"],"start":"20:00","end":"04:00"}]}]"#,
        "desired=2 min=1 max=4",
        r#"{"action":"scale-down","environment":"dev","dryRun":true,"at":"2026-11-24T19:00:00Z"}"#,
    ] {
        out.push(s.as_bytes().to_vec());
    }
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data
                .splice(at..at, TOKENS[rng.below(TOKENS.len())].iter().copied())
                .for_each(drop),
            2 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            4 if at < data.len() => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                let chunk: Vec<u8> = data[at..end].to_vec();
                data.splice(at..at, chunk).for_each(drop);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied())
                    .for_each(drop);
            }
            _ => data.insert(at, (rng.next() & 0xff) as u8),
        }
    }
    data
}

/// The first input (seeds, then `iterations` mutations) on which `target` panics.
fn first_panic(
    name: &str,
    target: fn(&[u8]),
    seeds: &[Vec<u8>],
    iterations: usize,
    seed: u64,
) -> Option<Vec<u8>> {
    let mut rng = Rng(seed ^ name.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    seeds
        .iter()
        .cloned()
        .chain((0..iterations).map(|_| mutate(&mut rng, seeds)))
        .find(|input| catch_unwind(AssertUnwindSafe(|| target(input))).is_err())
}

#[test]
fn no_parser_of_outside_input_panics_on_mutated_input() {
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x006d_6163_726f_6169);
    let seeds = seeds();
    assert!(seeds.len() > 40, "the sample events are the corpus");
    // Panics are caught and reported below; keep the default hook from printing each one.
    std::panic::set_hook(Box::new(|_| {}));
    // The harness itself finds a panic when there is one to find.
    let planted = first_panic(
        "planted",
        |d| assert!(!d.windows(2).any(|w| w == b"{\"")),
        &seeds,
        100,
        seed,
    );
    let failures: Vec<String> = TARGETS
        .iter()
        .filter_map(|(name, target)| {
            first_panic(name, *target, &seeds, iterations, seed)
                .map(|input| format!("{name}: {:?}", String::from_utf8_lossy(&input)))
        })
        .collect();
    let _ = std::panic::take_hook();
    assert!(
        planted.is_some(),
        "the fuzz harness failed to catch a planted panic"
    );
    assert!(
        failures.is_empty(),
        "parsers panicked:\n{}",
        failures.join("\n")
    );
    println!(
        "fuzz pass: {} targets x {} mutated inputs (+{} seeds), no panic",
        TARGETS.len(),
        iterations,
        seeds.len()
    );
}
