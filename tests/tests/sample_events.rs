//! The sample events under `events/` (used by the demo and `cargo lambda invoke --data-file`)
//! are what each function's handler expects.

use serde_json::Value;
use shared::rotation::{RotationRequest, Step};

fn parse(raw: &str) -> RotationRequest {
    let value: Value = serde_json::from_str(raw).expect("sample events are JSON");
    RotationRequest::from_value(&value).expect("sample events parse")
}

macro_rules! rotation_events {
    ($dir:literal) => {
        [
            (
                include_str!(concat!("../../events/", $dir, "/createSecret.json")),
                Some(Step::Create),
            ),
            (
                include_str!(concat!("../../events/", $dir, "/setSecret.json")),
                Some(Step::Set),
            ),
            (
                include_str!(concat!("../../events/", $dir, "/testSecret.json")),
                Some(Step::Test),
            ),
            (
                include_str!(concat!("../../events/", $dir, "/finishSecret.json")),
                Some(Step::Finish),
            ),
            (
                include_str!(concat!("../../events/", $dir, "/validate.json")),
                None,
            ),
        ]
    };
}

#[test]
fn the_rotation_sample_events_parse_to_their_steps_for_their_secret() {
    for (events, secret) in [
        (rotation_events!("rotate-postgres"), "macro-ai/dev/database"),
        (rotation_events!("rotate-redis"), "macro-ai/dev/redis"),
        (
            rotation_events!("rotate-openai-key"),
            "macro-ai/dev/openai-api-key",
        ),
    ] {
        for (raw, step) in events {
            match (parse(raw), step) {
                (RotationRequest::Rotate(r), Some(step)) => {
                    assert_eq!((r.step, r.secret_id.as_str()), (step, secret));
                }
                (RotationRequest::Validate { secret_id }, None) => assert_eq!(secret_id, secret),
                (other, step) => panic!("{secret}: expected {step:?}, got {other:?}"),
            }
        }
    }
}
