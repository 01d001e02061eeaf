//! rotate-app-secrets end to end: moto's Secrets Manager through the real SDK (GetRandomPassword
//! included). What is checked is what the Express API would see: a token signed before a rotation
//! still verifies after it (through `previous`), one the next version will sign verifies already
//! (through `next`), one signed two keys ago does not. Tasks that read the secret once, across a
//! rolling deployment, are in refresh_consumers.rs.

use anyhow::Result;
use serde_json::{Value, json};
use shared::appsecrets::{sign, verifies};
use tests::invoke;
use tests::rotation::{STEPS, create_secret, outcome, start_rotation, step_event, value_at};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

/// The function, with tokens living 29 days (the test secrets rotate every 30 days, and a
/// rotation may come a day early in its window) and no minimum key age (two rotations run back
/// to back here), unless `vars` say otherwise.
fn rotator(
    client: &aws_sdk_secretsmanager::Client,
    vars: &[(&str, &str)],
) -> Result<rotate_app_secrets::AppSecretsRotator> {
    let defaults = [("TOKEN_MAX_AGE_HOURS", "696"), ("MIN_KEY_AGE_HOURS", "0")];
    let config = rotate_app_secrets::Config::from_lookup(|k| {
        vars.iter()
            .chain(defaults.iter())
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })?;
    Ok(rotate_app_secrets::rotator(client.clone(), config))
}

/// A seed-shaped `jwt-secrets` value: 64 characters without `" @ / \ '`.
fn seed_key() -> String {
    let mut k = unique("seed").replace(['-', '_'], "x");
    while k.len() < 64 {
        k.push('k');
    }
    k.truncate(64);
    k
}

/// What the Express API does with one version of the secret: verify with the key, `previous`
/// or `next`.
fn api_accepts(secret: &Value, token: &[u8], signature: &[u8]) -> bool {
    let keys: Vec<&str> = [
        secret["accessTokenSecret"].as_str(),
        secret["previous"]["accessTokenSecret"].as_str(),
        secret["next"]["accessTokenSecret"].as_str(),
    ]
    .into_iter()
    .flatten()
    .collect();
    verifies(&keys, token, signature)
}

#[tokio::test]
async fn two_rotations_keep_one_key_of_overlap_and_every_step_twice_converges() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(&client, &[])?;
    let k0 = seed_key();
    let arn = create_secret(
        &client,
        "macro-ai/dev/jwt-secrets",
        &json!({"accessTokenSecret": k0, "issuer": "macro-ai"}),
    )
    .await?;
    let message = b"header.payload";
    // The keys in the order they sign: k0, then each `next` as it is promoted.
    let mut keys = vec![k0.clone()];
    for round in 1..=3 {
        let token = start_rotation(&client, &arn).await?;
        // Every step twice, as at-least-once delivery may: the second is a no-op that agrees.
        for step in STEPS {
            for attempt in 0..2 {
                let r = invoke(&f, step_event(step, &arn, &token)).await;
                assert!(
                    r.is_ok(),
                    "round {round}, {step} #{attempt}: {}",
                    outcome(&r)
                );
            }
        }
        let current = value_at(&client, &arn, "AWSCURRENT").await?;
        let key = current["accessTokenSecret"].as_str().unwrap_or_default();
        let next = current["next"]["accessTokenSecret"]
            .as_str()
            .unwrap_or_default();
        for k in [key, next] {
            assert_eq!(k.len(), 64);
            assert!(
                !k.chars().any(|c| "\"@/\\'".contains(c)),
                "the seed's alphabet"
            );
        }
        assert_eq!(current["issuer"], json!("macro-ai"), "other fields kept");
        if round == 1 {
            // The seed's shape first gains `next`: the signing key does not change.
            assert_eq!(key, k0);
            assert!(current.get("previous").is_none());
        } else {
            // `next` of the version before signs now; the key it replaced is `previous`.
            assert_eq!(
                key,
                keys[round - 1],
                "round {round}: the published key signs"
            );
            assert_eq!(
                current["previous"]["accessTokenSecret"].as_str(),
                Some(keys[round - 2].as_str())
            );
        }
        assert!(!keys.iter().any(|k| k == next), "a new next");
        keys.push(next.to_string());
        // What the version before signed, what this one signs and what the next will sign all
        // verify; what was signed two keys ago does not.
        let signing = keys.len() - 2;
        for (i, k) in keys.iter().enumerate() {
            let accepted = api_accepts(&current, message, &sign(k, message));
            let expected = i + 1 >= signing && i <= signing + 1;
            assert_eq!(accepted, expected, "round {round}: key #{i}");
        }
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_never_shown(&refs, &[]);
    Ok(())
}

#[tokio::test]
async fn bad_secrets_and_a_short_interval_are_typed_errors_and_change_nothing() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let good = seed_key();
    let mut messages = Vec::new();
    for (value, vars, error_type, expect) in [
        (
            json!("not-an-object"),
            vec![],
            "InvalidSecret",
            "not a JSON object",
        ),
        (
            json!({"accessTokenSecret": format!("{}@", &good[..63])}),
            vec![],
            "InvalidSecret",
            "`accessTokenSecret` is not 64 printable characters",
        ),
        (
            json!({"somethingElse": good}),
            vec![],
            "InvalidSecret",
            "none of the configured keys",
        ),
        // The secret rotates every 30 days (so rotations may be 29 days apart); tokens that live
        // 30 days would outlive two keys. The seed's 30-day sessions need 31.
        (
            json!({"accessTokenSecret": good}),
            vec![("TOKEN_MAX_AGE_HOURS", "720")],
            "RotationRefused",
            "rotate every 31 days or more",
        ),
        // AWSCURRENT's `previous` is malformed: refused before anything is staged.
        (
            json!({"accessTokenSecret": good, "previous": {"cookieKey": 7}}),
            vec![],
            "InvalidSecret",
            "`previous` must be an object of the keys it replaced",
        ),
    ] {
        let f = rotator(&client, &vars)?;
        let raw = match &value {
            Value::String(s) => Value::String(s.clone()),
            v => v.clone(),
        };
        let arn = create_secret(&client, &unique("macro-ai/dev/jwt-secrets"), &raw).await?;
        let before = value_at(&client, &arn, "AWSCURRENT").await.ok();
        let token = start_rotation(&client, &arn).await?;
        let r = invoke(&f, step_event("createSecret", &arn, &token)).await;
        let e = r.expect_err(expect);
        assert_eq!(e.error_type(), error_type, "{}", e.message());
        assert!(e.message().contains(expect), "{}", e.message());
        assert!(
            value_at(&client, &arn, "AWSPENDING").await.is_err(),
            "nothing staged"
        );
        assert_eq!(value_at(&client, &arn, "AWSCURRENT").await.ok(), before);
        messages.push(e.message().to_string());
    }
    let shown: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_never_shown(&[&good, &good[..63]], &shown);
    Ok(())
}

#[tokio::test]
async fn hex_and_base64_keys_rotate_in_their_own_alphabet_and_validation_checks_the_shape()
-> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(
        &client,
        &[(
            "APP_SECRET_KEYS",
            "accessTokenSecret:64,cookieKey:64:hex,internalApiKey:44:base64",
        )],
    )?;
    // The cookie secret has only its cookie key: only that field is rotated.
    let cookie = "ab".repeat(32);
    let arn = create_secret(
        &client,
        "macro-ai/dev/cookie-keys",
        &json!({"cookieKey": cookie}),
    )
    .await?;
    assert_eq!(
        outcome(&invoke(&f, json!({"validate": arn})).await),
        "valid"
    );
    let token = start_rotation(&client, &arn).await?;
    for step in STEPS {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let new = current["cookieKey"].as_str().unwrap_or_default();
    assert!(
        new.len() == 64 && new.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        new.len()
    );
    // The first rotation publishes `next` (64 hex digits) and keeps signing with the same key.
    assert_eq!(new, cookie);
    let published = current["next"]["cookieKey"].as_str().unwrap_or_default();
    assert!(
        published.len() == 64 && published.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        published.len()
    );
    assert!(current.get("accessTokenSecret").is_none(), "not added");
    let api = create_secret(
        &client,
        "macro-ai/dev/internal-api-key",
        &json!({"internalApiKey": "A".repeat(44)}),
    )
    .await?;
    let token = start_rotation(&client, &api).await?;
    for step in STEPS {
        let r = invoke(&f, step_event(step, &api, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let key = value_at(&client, &api, "AWSCURRENT").await?["next"]["internalApiKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        key.len() == 44
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'),
        "{}",
        key.len()
    );
    // Validation refuses a value someone broke.
    let broken = create_secret(
        &client,
        "macro-ai/dev/cookie-keys-broken",
        &json!({"cookieKey": "zz".repeat(32)}),
    )
    .await?;
    let r = invoke(&f, json!({"validate": broken})).await;
    assert!(outcome(&r).contains("InvalidSecret"), "{}", outcome(&r));
    assert_never_shown(&[&cookie, new, &key], &[]);
    Ok(())
}

#[tokio::test]
async fn awscurrent_rewritten_during_a_rotation_is_never_dropped_by_promoting_a_stale_pending()
-> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(&client, &[])?;
    let arn = create_secret(
        &client,
        "macro-ai/dev/jwt-secrets",
        &json!({"accessTokenSecret": seed_key()}),
    )
    .await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    // Someone puts a new key by hand while the rotation is half way.
    let by_hand = seed_key();
    tests::rotation::put_current(&client, &arn, &json!({"accessTokenSecret": by_hand})).await?;
    let e = invoke(&f, step_event("setSecret", &arn, &token))
        .await
        .expect_err("a pending version made from an older AWSCURRENT is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(e.message().contains("start a new one"), "{}", e.message());
    assert_eq!(
        value_at(&client, &arn, "AWSCURRENT").await?["accessTokenSecret"].as_str(),
        Some(by_hand.as_str()),
        "the key put by hand stays current"
    );
    assert_never_shown(&[&by_hand], &[e.message()]);
    Ok(())
}
