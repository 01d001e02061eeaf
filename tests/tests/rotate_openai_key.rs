//! rotate-openai-key end to end: moto server (Secrets Manager) through the real SDK and the
//! local OpenAI stub over HTTP. Each test has its own moto account, keys and project.

use anyhow::Result;
use serde_json::{Value, json};
use shared::openai::account_name;
use tests::invoke;
use tests::rotation::{STEPS, create_secret, outcome, rotate, stages, start_rotation, step_event};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

fn rotator(
    stack: &Stack,
    client: aws_sdk_secretsmanager::Client,
    mint: Option<(&str, &str)>,
) -> rotate_openai_key::OpenAiRotator {
    let base = stack.openai_base_url.clone();
    let config = rotate_openai_key::Config::from_lookup(|k| match k {
        "OPENAI_BASE_URL" => Some(base.clone()),
        "OPENAI_ADMIN_KEY_SECRET_ARN" => mint.map(|(arn, _)| arn.to_string()),
        "OPENAI_PROJECT_ID" => mint.map(|(_, project)| project.to_string()),
        _ => None,
    })
    .expect("config");
    rotate_openai_key::rotator(client, config).expect("rotator")
}

fn key() -> String {
    format!("sk-proj-{}", unique("k").replace('_', ""))
}

async fn plain_value(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    stage: &str,
) -> Result<String> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await?;
    Ok(out.secret_string().unwrap_or_default().to_string())
}

async fn stage_candidate(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    key: &str,
) -> Result<()> {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(key)
        .version_stages("CANDIDATE")
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_staged_valid_candidate_is_promoted_and_its_label_spent() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(stack, client.clone(), None);
    let (old, new) = (key(), key());
    stack.openai_key(&old, 200).await?;
    stack.openai_key(&new, 200).await?;
    let arn = create_secret_plain(&client, "macro-ai/dev/openai-api-key", &old).await?;
    stage_candidate(&client, &arn, &new).await?;

    rotate(&f, &client, &arn).await?;
    assert!(
        plain_value(&client, &arn, "AWSCURRENT").await? == new,
        "the candidate is AWSCURRENT"
    );
    assert!(
        plain_value(&client, &arn, "AWSPREVIOUS").await? == old,
        "the old key is AWSPREVIOUS"
    );
    assert!(
        !stages(&client, &arn)
            .await?
            .values()
            .flatten()
            .any(|l| l == "CANDIDATE"),
        "CANDIDATE is spent"
    );
    assert_eq!(
        outcome(&invoke(&f, json!({"validate": arn})).await),
        "valid"
    );

    // The JSON form keeps its other fields.
    let json_secret = create_secret(
        &client,
        "macro-ai/staging/openai-api-key",
        &json!({"apiKey": old, "organization": "org-macro"}),
    )
    .await?;
    stage_candidate(&client, &json_secret, &new).await?;
    rotate(&f, &client, &json_secret).await?;
    let v: Value = serde_json::from_str(&plain_value(&client, &json_secret, "AWSCURRENT").await?)?;
    assert!(v == json!({"apiKey": new, "organization": "org-macro"}));
    assert_never_shown(&[&old, &new], &[]);
    Ok(())
}

async fn create_secret_plain(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    key: &str,
) -> Result<String> {
    let out = client
        .create_secret()
        .name(name)
        .secret_string(key)
        .send()
        .await?;
    Ok(out.arn().unwrap_or_default().to_string())
}

#[tokio::test]
async fn an_invalid_candidate_fails_the_test_step_and_is_never_promoted() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(stack, client.clone(), None);
    let (old, bad, limited, broken) = (key(), key(), key(), key());
    stack.openai_key(&old, 200).await?;
    stack.openai_key(&bad, 401).await?;
    stack.openai_key(&limited, 429).await?;
    stack.openai_key(&broken, 503).await?;
    let arn = create_secret_plain(&client, "macro-ai/dev/openai-api-key", &old).await?;
    let mut messages = Vec::new();

    for (candidate, error_type) in [
        (&bad, "LoginRefused"),
        (&limited, "BackendUnavailable"),
        (&broken, "BackendUnavailable"),
    ] {
        stage_candidate(&client, &arn, candidate).await?;
        let token = start_rotation(&client, &arn).await?;
        for step in ["createSecret", "setSecret"] {
            let r = invoke(&f, step_event(step, &arn, &token)).await;
            assert!(r.is_ok(), "{step}: {}", outcome(&r));
        }
        let r = invoke(&f, step_event("testSecret", &arn, &token)).await;
        let e = r.as_ref().expect_err("testSecret must fail");
        assert_eq!(e.error_type(), error_type, "{}", e.message());
        let tail = &candidate[candidate.len() - 4..];
        assert!(
            e.message().contains(&format!("sk-...{tail}")),
            "{}",
            e.message()
        );
        messages.push(e.message().to_string());
        // Secrets Manager stops here: AWSCURRENT is still the old key, and still works.
        assert!(plain_value(&client, &arn, "AWSCURRENT").await? == old);
        // Abandon this attempt as the service does before the next one.
        client
            .update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&token)
            .send()
            .await?;
    }
    assert_eq!(
        outcome(&invoke(&f, json!({"validate": arn})).await),
        "valid"
    );
    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_never_shown(&[&old, &bad, &limited, &broken], &texts);
    Ok(())
}

#[tokio::test]
async fn no_candidate_and_no_admin_tells_the_operator_what_to_run() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(stack, client.clone(), None);
    let old = key();
    let arn = create_secret_plain(&client, "macro-ai/prod/openai-api-key", &old).await?;
    let token = start_rotation(&client, &arn).await?;
    let before = stages(&client, &arn).await?;
    let r = invoke(&f, step_event("createSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("no candidate");
    assert_eq!(e.error_type(), "OperatorActionNeeded");
    for expect in [
        "aws secretsmanager put-secret-value",
        "--version-stages CANDIDATE",
        "rotate-secret",
        "OPENAI_ADMIN_KEY_SECRET_ARN",
        "AWSCURRENT is unchanged",
    ] {
        assert!(e.message().contains(expect), "{expect}: {}", e.message());
    }
    assert_eq!(stages(&client, &arn).await?, before);
    assert!(plain_value(&client, &arn, "AWSCURRENT").await? == old);

    // A candidate equal to the current key is refused too.
    stage_candidate(&client, &arn, &old).await?;
    let r = invoke(&f, step_event("createSecret", &arn, &token)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("OperatorActionNeeded")
    );
    // A malformed secret is refused at createSecret.
    let broken = create_secret(&client, "macro-ai/dev/openai-bad", &json!({"key": old})).await?;
    let token = start_rotation(&client, &broken).await?;
    let r = invoke(&f, step_event("createSecret", &broken, &token)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("InvalidSecret")
    );
    assert_never_shown(&[&old], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn minted_keys_are_made_once_per_version_and_only_the_oldest_generation_revoked() -> Result<()>
{
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let project = unique("proj");
    let admin_key = format!("sk-admin-{}", unique("a").replace('_', ""));
    stack.openai_admin_key(&admin_key).await?;
    let admin_arn = create_secret_plain(&client, "macro-ai/openai-admin-key", &admin_key).await?;
    let f = rotator(stack, client.clone(), Some((&admin_arn, &project)));
    let seed = key();
    stack.openai_key(&seed, 200).await?;
    let arn = create_secret_plain(&client, "macro-ai/dev/openai-api-key", &seed).await?;
    // Another team's service account in the same project: never ours to revoke.
    let foreign = stack
        .openai_mint(&admin_key, &project, "analytics-batch")
        .await?;

    // First rotation, with createSecret retried after it succeeded and after an interruption
    // that had minted a key but not stored it (under the names used before accounts carried the
    // secret's hash: still recognised as this secret's by the version id).
    let token = start_rotation(&client, &arn).await?;
    stack
        .openai_mint(&admin_key, &project, &format!("macro-ai-ops-{token}"))
        .await?;
    for step in STEPS {
        let first = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(first.is_ok(), "{step}: {}", outcome(&first));
        if step == "createSecret" {
            assert_eq!(
                outcome(&invoke(&f, step_event(step, &arn, &token)).await),
                "alreadyCreated"
            );
        }
    }
    let p = stack.openai_project(&project).await?;
    let ours = |p: &Value, name: &str| {
        p["accounts"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["name"] == json!(name)).count())
            .unwrap_or(0)
    };
    assert_eq!(
        ours(&p, &account_name(&arn, &token)),
        1,
        "one key for the version: {p}"
    );
    assert_eq!(
        p["deleted"].as_array().map(Vec::len),
        Some(1),
        "the orphan was replaced: {p}"
    );
    let k1 = plain_value(&client, &arn, "AWSCURRENT").await?;
    assert!(k1.starts_with("sk-svcacct-"));

    let t2 = rotate(&f, &client, &arn).await?;
    let p = stack.openai_project(&project).await?;
    assert_eq!(
        p["deleted"].as_array().map(Vec::len),
        Some(1),
        "nothing older than AWSPREVIOUS yet: {p}"
    );
    let t3 = rotate(&f, &client, &arn).await?;
    let p = stack.openai_project(&project).await?;
    let names: Vec<&str> = p["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"analytics-batch"), "{p}");
    assert!(
        names.contains(&account_name(&arn, &t2).as_str()),
        "AWSPREVIOUS's key kept: {p}"
    );
    assert!(
        names.contains(&account_name(&arn, &t3).as_str()),
        "AWSCURRENT's key kept: {p}"
    );
    assert!(
        !names.contains(&account_name(&arn, &token).as_str()),
        "the oldest generation revoked: {p}"
    );
    assert_eq!(
        p["deleted"].as_array().map(Vec::len),
        Some(2),
        "exactly one more revocation: {p}"
    );
    assert_eq!(
        p["created"],
        json!(5),
        "1 foreign + 1 orphan + 3 rotations: {p}"
    );
    assert!(foreign["id"].is_string());
    let k3 = plain_value(&client, &arn, "AWSCURRENT").await?;
    assert_never_shown(&[&seed, &admin_key, &k1, &k3], &[]);
    Ok(())
}

/// `/v1/models` accepts `key`.
async fn live(stack: &Stack, key: &str) -> Result<bool> {
    Ok(reqwest::Client::new()
        .get(format!("{}/v1/models", stack.openai_base_url))
        .bearer_auth(key)
        .send()
        .await?
        .status()
        .is_success())
}

#[tokio::test]
async fn two_secrets_minting_into_one_project_never_revoke_each_other_s_keys() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let project = unique("proj");
    let admin_key = format!("sk-admin-{}", unique("a").replace('_', ""));
    stack.openai_admin_key(&admin_key).await?;
    let admin_arn = create_secret_plain(&client, "macro-ai/openai-admin-key", &admin_key).await?;
    let f = rotator(stack, client.clone(), Some((&admin_arn, &project)));
    let mut secrets = Vec::new();
    for env in ["dev", "staging"] {
        let seed = key();
        stack.openai_key(&seed, 200).await?;
        secrets.push(
            create_secret_plain(&client, &format!("macro-ai/{env}/openai-api-key"), &seed).await?,
        );
    }
    let (dev, staging) = (&secrets[0], &secrets[1]);
    // staging rotates twice: its AWSCURRENT and AWSPREVIOUS are both minted keys.
    rotate(&f, &client, staging).await?;
    rotate(&f, &client, staging).await?;
    let staging_keys = [
        plain_value(&client, staging, "AWSCURRENT").await?,
        plain_value(&client, staging, "AWSPREVIOUS").await?,
    ];
    // An account under the old naming whose version id is no version of dev's: someone else's.
    let stranger = format!("macro-ai-ops-{}", unique("tok").replace('_', "-"));
    stack.openai_mint(&admin_key, &project, &stranger).await?;

    // dev rotates three times; after each, staging's two keys still work.
    let mut dev_keys = Vec::new();
    for round in 1..=3 {
        rotate(&f, &client, dev).await?;
        dev_keys.push(plain_value(&client, dev, "AWSCURRENT").await?);
        for k in &staging_keys {
            assert!(
                live(stack, k).await?,
                "round {round}: a staging key was revoked"
            );
        }
    }
    let p = stack.openai_project(&project).await?;
    let names: Vec<&str> = p["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&stranger.as_str()), "{p}");
    // dev's own: its oldest minted key revoked, AWSCURRENT and AWSPREVIOUS live.
    assert!(
        !live(stack, &dev_keys[0]).await?,
        "dev's oldest generation is revoked"
    );
    assert!(live(stack, &dev_keys[1]).await? && live(stack, &dev_keys[2]).await?);
    // 2 staging + 3 dev + the stranger minted; only dev's first revoked.
    assert_eq!(
        (p["created"].clone(), p["deleted"].as_array().map(Vec::len)),
        (json!(6), Some(1)),
        "{p}"
    );
    let mut shown: Vec<&str> = staging_keys.iter().map(String::as_str).collect();
    shown.extend(dev_keys.iter().map(String::as_str));
    shown.push(&admin_key);
    assert_never_shown(&shown, &[]);
    Ok(())
}
