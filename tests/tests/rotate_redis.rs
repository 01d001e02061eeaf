//! rotate-redis end to end: moto server (Secrets Manager) through the real SDK and a real
//! redis-server with ACL users. Each test has its own moto account and its own Redis user.

use anyhow::Result;
use serde_json::{Value, json};
use tests::invoke;
use tests::redis::{
    ADMIN_SECRET, PrivateRedis, create_user, logs_in, password_count, self_managed,
};
use tests::rotation::{
    STEPS, create_secret, outcome, rotate, stages, start_rotation, step_event, value_at,
};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

/// The function as deployed for a self-managed Redis.
fn rotator(client: aws_sdk_secretsmanager::Client) -> rotate_redis::RedisRotator {
    let config = rotate_redis::Config {
        redis: self_managed(),
        ..Default::default()
    };
    rotate_redis::rotator(client, None, config).expect("default config")
}

/// The password inside either shape of the secret.
fn password(v: &Value) -> String {
    if let Some(url) = v["url"].as_str() {
        let parsed = url::Url::parse(url).expect("a URL");
        let raw = parsed.password().unwrap_or_default().to_string();
        return percent_encoding::percent_decode_str(&raw)
            .decode_utf8_lossy()
            .into_owned();
    }
    v["password"].as_str().unwrap_or_default().to_string()
}

async fn admin_secret(client: &aws_sdk_secretsmanager::Client, stack: &Stack) -> Result<String> {
    create_secret(
        client,
        ADMIN_SECRET,
        &json!({"username": stack.redis_admin_user, "password": stack.redis_admin_password(),
                "host": stack.redis_host, "port": stack.redis_port}),
    )
    .await
}

#[tokio::test]
async fn the_previous_password_works_throughout_and_two_generations_old_is_refused() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(client.clone());
    let user = unique("macro_ai_app");
    let p0 = unique("initial");
    create_user(&mut stack.redis_admin().await?, &user, &p0).await?;
    let admin_arn = admin_secret(&client, stack).await?;
    let initial = json!({"url": format!("redis://{user}:{p0}@{}:{}/0", stack.redis_host, stack.redis_port),
                         "adminarn": admin_arn, "cluster": "macro-ai-dev-redis"});
    let arn = create_secret(&client, "macro-ai/dev/redis", &initial).await?;

    // During the rotation, after every step, a client holding the old password still works.
    let token = start_rotation(&client, &arn).await?;
    for step in STEPS {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
        assert!(
            stack.redis_logs_in(&user, &p0).await?,
            "old password refused after {step}"
        );
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let p1 = password(&current);
    assert!(p1 != p0 && p1.len() == 32);
    assert_eq!(current["cluster"], json!("macro-ai-dev-redis"));
    assert_eq!(current["adminarn"], json!(admin_arn));
    assert!(
        current["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("redis://{user}:"))
    );
    assert!(stack.redis_logs_in(&user, &p1).await?, "AWSCURRENT logs in");
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        2
    );

    rotate(&f, &client, &arn).await?;
    let p2 = password(&value_at(&client, &arn, "AWSCURRENT").await?);
    assert_eq!(password(&value_at(&client, &arn, "AWSPREVIOUS").await?), p1);
    assert!(stack.redis_logs_in(&user, &p2).await?, "AWSCURRENT logs in");
    assert!(
        stack.redis_logs_in(&user, &p1).await?,
        "AWSPREVIOUS still logs in"
    );
    assert!(
        !stack.redis_logs_in(&user, &p0).await?,
        "two generations old is refused"
    );
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        2
    );
    assert_never_shown(&[&p0, &p1, &p2, stack.redis_admin_password()], &[]);
    Ok(())
}

#[tokio::test]
async fn redis_down_at_set_and_test_fails_cleanly_and_the_retry_converges() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let mut redis = PrivateRedis::start()?;
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(client.clone());
    let user = unique("macro_ai_app");
    let p0 = unique("initial");
    let mut admin = redis.admin().await?;
    create_user(&mut admin, &user, &p0).await?;
    admin.query(redis::cmd("ACL").arg("SAVE")).await?;
    let admin_arn = create_secret(
        &client,
        ADMIN_SECRET,
        &json!({"username": "admin", "password": redis.admin_password, "host": "127.0.0.1",
                "port": redis.port}),
    )
    .await?;
    let initial = json!({"username": user, "password": p0, "host": "127.0.0.1", "port": redis.port,
                         "tls": false, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/staging/redis", &initial).await?;
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&f, step_event("createSecret", &arn, &token)).await),
        "created"
    );

    redis.stop()?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r
        .as_ref()
        .expect_err("setSecret must fail while Redis is down");
    assert_eq!(e.error_type(), "BackendUnavailable");
    assert!(
        e.message().contains("could not reach Redis"),
        "{}",
        e.message()
    );
    redis.resume()?;
    assert!(
        logs_in("127.0.0.1", redis.port, &user, &p0).await?,
        "AWSCURRENT still works"
    );
    assert_eq!(
        outcome(&invoke(&f, step_event("setSecret", &arn, &token)).await),
        "set"
    );

    redis.stop()?;
    let r = invoke(&f, step_event("testSecret", &arn, &token)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("BackendUnavailable")
    );
    redis.resume()?;
    assert!(
        logs_in("127.0.0.1", redis.port, &user, &p0).await?,
        "AWSCURRENT still works"
    );
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "retried {step}: {}", outcome(&r));
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let p1 = password(&current);
    let mut expected = initial.clone();
    expected["password"] = json!(p1);
    assert!(
        current == expected,
        "the structured shape and its fields are kept"
    );
    assert!(logs_in("127.0.0.1", redis.port, &user, &p1).await?);
    assert!(
        logs_in("127.0.0.1", redis.port, &user, &p0).await?,
        "AWSPREVIOUS still works"
    );
    assert_never_shown(&[&p0, &p1, &redis.admin_password], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn bad_secrets_and_tls_mismatches_fail_clearly_and_change_nothing() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(client.clone());
    let user = unique("macro_ai_app");
    let p0 = unique("initial");
    create_user(&mut stack.redis_admin().await?, &user, &p0).await?;
    let admin_arn = admin_secret(&client, stack).await?;
    let mut messages = Vec::new();

    // Nothing says how the password is changed (no `adminarn`, `user_arn` or
    // `replication_group_id`): createSecret refuses, nothing is stored, the user is untouched.
    let no_admin = json!({"username": user, "password": p0, "host": stack.redis_host,
                          "port": stack.redis_port});
    let arn = create_secret(&client, "macro-ai/dev/redis", &no_admin).await?;
    let token = start_rotation(&client, &arn).await?;
    let r = invoke(&f, step_event("createSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("no adminarn");
    assert_eq!(e.error_type(), "InvalidSecret");
    assert!(e.message().contains("adminarn"), "{}", e.message());
    assert!(
        tests::rotation::value_at(&client, &arn, "AWSPENDING")
            .await
            .is_err(),
        "nothing pending stored"
    );
    messages.push(e.message().to_string());
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        1
    );

    // A user that does not exist is not created by the rotation.
    let ghost = unique("ghost");
    let missing = json!({"username": ghost, "password": "whatever-pw", "host": stack.redis_host,
                         "port": stack.redis_port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-ghost", &missing).await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .expect("createSecret");
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("missing user");
    assert_eq!(e.error_type(), "RotationRefused");
    assert!(e.message().contains("does not exist"), "{}", e.message());
    let mut admin = stack.redis_admin().await?;
    assert!(
        password_count(&mut admin, &ghost).await.is_err(),
        "the user was not created"
    );

    // A malformed secret: createSecret stores nothing.
    let arn = create_secret(
        &client,
        "macro-ai/dev/redis-bad",
        &json!({"url": "http://x:y@z"}),
    )
    .await?;
    let token = start_rotation(&client, &arn).await?;
    let before = stages(&client, &arn).await?;
    let r = invoke(&f, step_event("createSecret", &arn, &token)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("InvalidSecret")
    );
    assert_eq!(stages(&client, &arn).await?, before);

    // TLS is never downgraded: rediss:// against a plain server fails, it does not fall back.
    let tls =
        json!({"url": format!("rediss://{user}:{p0}@{}:{}", stack.redis_host, stack.redis_port)});
    let arn = create_secret(&client, "macro-ai/dev/redis-tls", &tls).await?;
    let r = invoke(&f, json!({"validate": arn})).await;
    let e = r.as_ref().expect_err("TLS to a plain server must fail");
    assert!(e.message().contains("TLS"), "{}", e.message());
    messages.push(e.message().to_string());

    // Validation of a working secret.
    let ok = json!({"username": user, "password": p0, "host": stack.redis_host, "port": stack.redis_port});
    let arn = create_secret(&client, "macro-ai/dev/redis-ok", &ok).await?;
    assert_eq!(
        outcome(&invoke(&f, json!({"validate": arn})).await),
        "valid"
    );

    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_never_shown(&[&p0, stack.redis_admin_password()], &texts);
    Ok(())
}
