//! Entry points for fuzzing every parser of outside input: each takes arbitrary bytes and must
//! return without panicking, whatever they are. Used by the cargo-fuzz targets under `fuzz/` and by
//! the stable, bounded fuzz pass the tests run (`tests/tests/fuzz_smoke.rs`).

use crate::secret::SecretString;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn json(data: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(data).ok()
}

/// A fuzz target: arbitrary bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("rotation_event", rotation_event),
    ("alarm_sns_message", alarm_sns_message),
    ("ecs_deployment_event", ecs_deployment_event),
    ("alarm_state_change", alarm_state_change),
    ("event_envelope", event_envelope),
    ("budget_text", budget_text),
    ("anomaly_json", anomaly_json),
    ("schedules_json", schedules_json),
    ("scaling_event", scaling_event),
    ("budget_event", budget_event),
    ("postgres_secret", postgres_secret),
    ("redis_secret", redis_secret),
    ("openai_key_secret", openai_key_secret),
    ("app_secret", app_secret),
    ("saved_capacity_tag", saved_capacity_tag),
    ("refresh_event", refresh_event),
    ("secret_reference", secret_reference),
    ("current_since_tag", current_since_tag),
];

pub fn rotation_event(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::rotation::RotationRequest::from_value(&v);
    }
}

/// An alarm message as SNS carries it: the bytes are the `Message` string.
pub fn alarm_sns_message(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = crate::rollback::parse(&crate::event::sns_batch(&[("f", t)]));
    }
}

pub fn ecs_deployment_event(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::rollback::parse(&v);
    }
}

/// A CloudWatch alarm state change (`detail` / `alarmData`): the bytes are that object, delivered
/// both by EventBridge and as a direct alarm action.
pub fn alarm_state_change(data: &[u8]) {
    if let Some(v) = json(data) {
        let eventbridge = serde_json::json!({"version": "0", "id": "f", "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change", "time": "2026-11-25T10:00:00Z",
            "resources": [], "detail": v});
        let _ = crate::rollback::parse(&eventbridge);
        let action = serde_json::json!({"source": "aws.cloudwatch", "time": "2026-11-25T10:00:00Z",
            "alarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:f", "alarmData": v});
        let _ = crate::rollback::parse(&action);
    }
}

/// Any payload, through the one envelope opener and both functions that use it.
pub fn event_envelope(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::event::open(&v);
        let _ = crate::rollback::parse(&v);
        let _ = crate::budget::parse(&v);
    }
}

pub fn budget_text(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = crate::budget::budget_text(t);
        let _ = crate::budget::money(t);
    }
}

/// An anomaly or budget message as SNS carries it.
pub fn anomaly_json(data: &[u8]) {
    if let Some(t) = text(data) {
        let event = serde_json::json!({"Records": [{"Sns": {"MessageId": "f", "Message": t}}]});
        let _ = crate::budget::parse(&event);
    }
}

pub fn schedules_json(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = crate::schedule::Schedules::new("UTC", Some(t));
    }
}

pub fn scaling_event(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::scaling::ScalingRequest::from_value(&v, || jiff::Timestamp::UNIX_EPOCH);
    }
}

pub fn budget_event(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::budget::parse(&v);
    }
}

pub fn postgres_secret(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(s) = crate::postgres::PgSecret::parse(&SecretString::new(t), "fuzz")
    {
        let _ = s.with_login("u", &SecretString::new("p"));
        let _ = crate::postgres::secret::alternate_username(&s.username);
    }
}

pub fn redis_secret(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(s) = crate::redis::RedisSecret::parse(&SecretString::new(t), "fuzz")
    {
        let _ = s.with_password(&SecretString::new("n#w/p?ss%:"));
    }
}

pub fn openai_key_secret(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(s) = crate::openai::KeySecret::parse(&SecretString::new(t), "fuzz")
    {
        let _ = crate::openai::redact(&s.key);
    }
}

/// An application-keys secret, under a configuration with every key format.
pub fn app_secret(data: &[u8]) {
    if let Some(t) = text(data) {
        let options = crate::appsecrets::AppSecretOptions {
            keys: crate::appsecrets::parse_keys(
                "accessTokenSecret:64,cookieKey:32:hex,internalApiKey:44:base64",
                crate::appsecrets::SEED_EXCLUDE,
            )
            .expect("a valid configuration"),
            ..Default::default()
        };
        let _ = crate::appsecrets::AppSecretsBackend::new(options)
            .check_value(&SecretString::new(t.to_string()));
    }
}

pub fn saved_capacity_tag(data: &[u8]) {
    if let Some(t) = text(data)
        && let Some(c) = crate::capacity::Capacity::decode(t)
    {
        assert_eq!(
            crate::capacity::Capacity::decode(&c.encode()),
            Some(c),
            "the tag round-trips"
        );
    }
}

/// What refresh-consumers is asked (a Secret Label Updated event, a manual refresh, a
/// reconciliation).
pub fn refresh_event(data: &[u8]) {
    if let Some(v) = json(data) {
        let _ = crate::consumers::parse(&v);
    }
}

/// A task definition's `valueFrom`, against a secret: whatever it says, it names the secret or
/// it does not.
pub fn secret_reference(data: &[u8]) {
    if let Some(t) = text(data)
        && let Some(secret) = crate::consumers::SecretIdentity::new(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEf",
            "macro-ai/dev/database",
        )
    {
        let _ = secret.referenced_by(t);
    }
}

/// The `macro-ai:current-since` tag a secret carries: whatever someone wrote there reads back
/// as no record or as the record it encodes.
pub fn current_since_tag(data: &[u8]) {
    if let Some(t) = text(data)
        && let Some(since) = crate::rotation::CurrentSince::decode(t)
    {
        assert_eq!(
            crate::rotation::CurrentSince::decode(&since.encode()),
            Some(since),
            "the tag round-trips"
        );
    }
}
