//! rotate-redis on ElastiCache, through the SDK against the stack's ElastiCache stand-in
//! (scripts/elasticache_stub.py), which moto lacks and which applies each change to a real Redis:
//! RBAC users (`ModifyUser`, two passwords) and AUTH tokens (`ModifyReplicationGroup`, ROTATE and
//! SET). The previous password works after every step; the one two generations old is refused.

use anyhow::Result;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};
use shared::redis::RedisOptions;
use shared::rotation::PasswordPolicy;
use std::time::Duration;
use tests::invoke;
use tests::redis::{PrivateRedis, create_user, logs_in};
use tests::rotation::{
    STEPS, create_secret, outcome, put_current, start_rotation, step_event, value_at,
};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

fn elasticache(stack: &Stack) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::from_conf(
        aws_sdk_elasticache::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&stack.elasticache_endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .build(),
    )
}

/// As the template deploys it: the endpoint pinned (REDIS_HOST/REDIS_PORT), TLS with the CA.
fn options(stack: &Stack, port: u16, wait: Duration) -> RedisOptions {
    RedisOptions {
        elasticache_wait: wait,
        elasticache_poll: Duration::from_millis(50),
        pinned: Some(("localhost".into(), port)),
        tls_ca_file: Some(stack.tls_ca.clone()),
        ..RedisOptions::default()
    }
}

fn rotator(
    stack: &Stack,
    client: aws_sdk_secretsmanager::Client,
    redis: RedisOptions,
) -> Result<rotate_redis::RedisRotator> {
    Ok(rotate_redis::rotator(
        client,
        Some(elasticache(stack)),
        rotate_redis::Config {
            passwords: PasswordPolicy {
                // More than ElastiCache allows, and none of its exclusions: the function fits it.
                length: 200,
                exclude_characters: String::new(),
            },
            redis,
            watch: Default::default(),
        },
    )?)
}

async fn stub(stack: &Stack, path: &str, body: Value) -> Result<()> {
    reqwest::Client::new()
        .post(format!("{}/_stub/{path}", stack.elasticache_endpoint))
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn calls(stack: &Stack, id: &str) -> Result<Vec<String>> {
    let all: Vec<Value> = reqwest::Client::new()
        .get(format!("{}/_stub/calls", stack.elasticache_endpoint))
        .send()
        .await?
        .json()
        .await?;
    Ok(all
        .iter()
        .filter(|c| c["id"] == json!(id))
        .map(|c| c["action"].as_str().unwrap_or_default().to_string())
        .collect())
}

fn url_password(v: &Value) -> String {
    url::Url::parse(v["url"].as_str().unwrap_or_default())
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .map(|p| {
            percent_encoding::percent_decode_str(&p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// Runs the four steps; after each, every password in `live` must still log in.
async fn rotate_checking(
    f: &rotate_redis::RedisRotator,
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    live: &[String],
    works: impl AsyncFn(&str) -> Result<bool>,
) -> Result<String> {
    let token = start_rotation(client, arn).await?;
    for step in STEPS {
        let r = invoke(f, step_event(step, arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
        for (i, p) in live.iter().enumerate() {
            assert!(works(p).await?, "password {i} stopped working after {step}");
        }
    }
    Ok(token)
}

fn follows_elasticache_rules(p: &str) {
    assert!((16..=128).contains(&p.len()), "length {}", p.len());
    assert!(
        p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!&#$^<>-".contains(c)),
        "only letters, digits and ! & # $ ^ < > -"
    );
}

#[tokio::test]
async fn an_elasticache_rbac_user_rotates_with_one_generation_of_overlap() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let (user, initial) = (unique("app"), unique("initial-password").replace('_', "-"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let id = unique("macro-ai-app");
    stub(
        stack,
        "users",
        json!({"user_id": id, "user_name": user, "modifying_ms": 300,
               "redis": {"host": stack.redis_host, "port": stack.redis_port,
                         "admin_user": stack.redis_admin_user,
                         "admin_password": stack.redis_admin_password()}}),
    )
    .await?;
    let user_arn = format!("arn:aws:elasticache:us-east-1:123456789012:user:{id}");
    let secret = json!({"url": format!("rediss://{user}:{initial}@localhost:{}/0", stack.redis_tls_port),
                        "user_arn": user_arn, "username": user});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let f = rotator(
        stack,
        client.clone(),
        RedisOptions {
            user_name: Some(user.clone()),
            user_arn: Some(user_arn.clone()),
            ..options(stack, stack.redis_tls_port, Duration::from_secs(10))
        },
    )?;
    let works = async |p: &str| stack.redis_logs_in(&user, p).await;

    rotate_checking(&f, &client, &arn, std::slice::from_ref(&initial), works).await?;
    let first = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    follows_elasticache_rules(&first);
    assert!(works(&first).await? && works(&initial).await?);
    // testSecret waited for the change to settle before its AUTH: a DescribeUsers after ModifyUser.
    let seen = calls(stack, &id).await?;
    let modified = seen
        .iter()
        .position(|c| c == "ModifyUser")
        .expect("ModifyUser called");
    assert!(
        seen[modified..].iter().any(|c| c == "DescribeUsers"),
        "{seen:?}"
    );

    rotate_checking(&f, &client, &arn, std::slice::from_ref(&first), works).await?;
    let second = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    assert!(works(&second).await? && works(&first).await?);
    assert!(!works(&initial).await?, "two generations old is refused");

    // Another user name than the configured one: refused before anything changes.
    let other = rotator(
        stack,
        client.clone(),
        RedisOptions {
            user_name: Some("someone-else".into()),
            user_arn: Some(user_arn.clone()),
            ..options(stack, stack.redis_tls_port, Duration::from_secs(10))
        },
    )?;
    let token = start_rotation(&client, &arn).await?;
    let r = invoke(&other, step_event("createSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("another user name is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(e.message().contains("REDIS_USER_NAME"), "{}", e.message());
    assert_never_shown(&[&initial, &first, &second], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn a_user_that_never_settles_ends_the_wait_typed_and_the_retry_converges() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let (user, initial) = (unique("app"), unique("initial-password").replace('_', "-"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let id = unique("macro-ai-app");
    let register = async |ms: i64| {
        stub(
            stack,
            "users",
            json!({"user_id": id, "user_name": user, "modifying_ms": ms,
                   "redis": {"host": stack.redis_host, "port": stack.redis_port,
                             "admin_user": stack.redis_admin_user,
                             "admin_password": stack.redis_admin_password()}}),
        )
        .await
    };
    register(-1).await?; // active now; modifying for ever after the first change
    let user_arn = format!("arn:aws:elasticache:us-east-1:123456789012:user:{id}");
    let secret = json!({"username": user, "password": initial, "host": "localhost",
                        "port": stack.redis_tls_port, "tls": true, "user_arn": user_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let f = rotator(
        stack,
        client.clone(),
        RedisOptions {
            user_arn: Some(user_arn.clone()),
            ..options(stack, stack.redis_tls_port, Duration::from_secs(1))
        },
    )?;
    let token = start_rotation(&client, &arn).await?;
    for step in ["createSecret", "setSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let started = std::time::Instant::now();
    let r = invoke(&f, step_event("testSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("the user never becomes active");
    assert_eq!(e.error_type(), "BackendUnavailable", "{}", e.message());
    assert!(e.message().contains("still `modifying`"), "{}", e.message());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by ELASTICACHE_WAIT_SECONDS"
    );
    // ElastiCache settles; the retried steps finish.
    register(0).await?;
    for step in ["testSecret", "finishSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let password = current["password"].as_str().unwrap_or_default();
    assert!(stack.redis_logs_in(&user, password).await?);
    assert!(
        stack.redis_logs_in(&user, &initial).await?,
        "the previous password still works"
    );
    assert_never_shown(&[&initial, password], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn an_auth_token_rotates_with_rotate_and_set_and_one_generation_of_overlap() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let (redis, tls_port) = PrivateRedis::start_tls()?;
    let client = stack.secrets_manager(&MotoAccount::new());
    let group = unique("macro-ai-dev-redis");
    let initial = unique("initial-auth-token").replace('_', "-");
    stub(
        stack,
        "replication-groups",
        json!({"id": group, "tokens": [initial], "modifying_ms": 300,
               "redis": {"host": "127.0.0.1", "port": redis.port, "admin_user": "admin",
                         "admin_password": redis.admin_password}}),
    )
    .await?;
    // The seed's shape: a URL, no user (the default user), the token as its password.
    let secret = json!({"url": format!("rediss://:{initial}@localhost:{tls_port}/0"),
                        "replication_group_id": group});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let f = rotator(
        stack,
        client.clone(),
        RedisOptions {
            replication_group_id: Some(group.clone()),
            ..options(stack, tls_port, Duration::from_secs(10))
        },
    )?;
    let port = redis.port;
    let works = async |p: &str| logs_in("127.0.0.1", port, "default", p).await;

    rotate_checking(&f, &client, &arn, std::slice::from_ref(&initial), works).await?;
    let first = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    follows_elasticache_rules(&first);
    assert!(works(&first).await? && works(&initial).await?);

    // Two tokens are in use now: the second rotation SETs the current one first, then ROTATEs.
    rotate_checking(&f, &client, &arn, std::slice::from_ref(&first), works).await?;
    let second = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    assert!(works(&second).await? && works(&first).await?);
    assert!(!works(&initial).await?, "two generations old is refused");
    let seen = calls(stack, &group).await?;
    // ROTATE; then a ROTATE refused (two tokens in use), SET, ROTATE.
    assert_eq!(
        seen.iter()
            .filter(|c| *c == "ModifyReplicationGroup")
            .count(),
        4,
        "{seen:?}"
    );
    assert_never_shown(&[&initial, &first, &second], &[]);
    Ok(())
}

/// Someone with PutSecretValue writes AWSCURRENT with a password or token they know (the honest
/// value becomes AWSPREVIOUS), or points it at another host.
#[tokio::test]
async fn a_rewritten_secret_never_gets_its_password_installed_on_elasticache() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let theirs = "AttackerKnown0123456789";

    // RBAC user: the proof falls back to the honest AWSPREVIOUS, and only that password is kept.
    let (user, initial) = (unique("app"), unique("initial-password").replace('_', "-"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let id = unique("macro-ai-app");
    stub(
        stack,
        "users",
        json!({"user_id": id, "user_name": user, "modifying_ms": 0,
               "redis": {"host": stack.redis_host, "port": stack.redis_port,
                         "admin_user": stack.redis_admin_user,
                         "admin_password": stack.redis_admin_password()}}),
    )
    .await?;
    let user_arn = format!("arn:aws:elasticache:us-east-1:123456789012:user:{id}");
    let url = |p: &str| format!("rediss://{user}:{p}@localhost:{}/0", stack.redis_tls_port);
    let arn = create_secret(
        &client,
        "macro-ai/dev/redis-credentials",
        &json!({"url": url(&initial), "user_arn": user_arn}),
    )
    .await?;
    put_current(
        &client,
        &arn,
        &json!({"url": url(theirs), "user_arn": user_arn}),
    )
    .await?;
    let f = rotator(
        stack,
        client.clone(),
        RedisOptions {
            user_arn: Some(user_arn.clone()),
            ..options(stack, stack.redis_tls_port, Duration::from_secs(5))
        },
    )?;
    let token = start_rotation(&client, &arn).await?;
    for step in STEPS {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let works = async |p: &str| stack.redis_logs_in(&user, p).await;
    assert!(
        !works(theirs).await?,
        "the attacker's password was installed"
    );
    assert!(
        works(&initial).await?,
        "the honest, proven password still works"
    );

    // AUTH token: a SET happens only for a token that just logged in (the honest one).
    let (redis, tls_port) = PrivateRedis::start_tls()?;
    let group = unique("macro-ai-dev-redis");
    let honest = unique("honest-auth-token").replace('_', "-");
    stub(
        stack,
        "replication-groups",
        json!({"id": group, "tokens": [honest], "modifying_ms": 0,
               "redis": {"host": "127.0.0.1", "port": redis.port, "admin_user": "admin",
                         "admin_password": redis.admin_password}}),
    )
    .await?;
    let token_url = |t: &str| format!("rediss://:{t}@localhost:{tls_port}/0");
    let arn = create_secret(
        &client,
        &unique("macro-ai/dev/redis-credentials"),
        &json!({"url": token_url(&honest), "replication_group_id": group}),
    )
    .await?;
    put_current(
        &client,
        &arn,
        &json!({"url": token_url(theirs), "replication_group_id": group}),
    )
    .await?;
    let g = rotator(
        stack,
        client.clone(),
        RedisOptions {
            replication_group_id: Some(group.clone()),
            ..options(stack, tls_port, Duration::from_secs(5))
        },
    )?;
    let token = start_rotation(&client, &arn).await?;
    for step in STEPS {
        let r = invoke(&g, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    let port = redis.port;
    let token_works = async |t: &str| logs_in("127.0.0.1", port, "default", t).await;
    assert!(!token_works(theirs).await?, "the attacker's token was SET");
    assert!(token_works(&honest).await?, "the honest token still works");
    // The next rotation: AWSPREVIOUS is now the refused value, the group holds two tokens.
    // Guessing from AWSPREVIOUS would ROTATE into a refusal for ever; ElastiCache's answer
    // leads to SET the token that just logged in, then ROTATE.
    let first = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    let token = start_rotation(&client, &arn).await?;
    for step in STEPS {
        let r = invoke(&g, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "second rotation, {step}: {}", outcome(&r));
    }
    let second = url_password(&value_at(&client, &arn, "AWSCURRENT").await?);
    assert!(token_works(&second).await? && token_works(&first).await?);
    assert!(
        !token_works(&honest).await?,
        "two generations old is refused"
    );

    // Another host: refused before any login; ElastiCache never called.
    let before = calls(stack, &id).await?.len();
    let elsewhere = json!({"username": user, "password": theirs, "host": "127.0.0.1",
                           "port": stack.redis_port, "tls": true, "user_arn": user_arn});
    let arn = create_secret(
        &client,
        &unique("macro-ai/dev/redis-credentials"),
        &elsewhere,
    )
    .await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("another host is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(
        e.message().contains("refused before any login"),
        "{}",
        e.message()
    );
    assert_eq!(
        calls(stack, &id).await?.len(),
        before,
        "no ElastiCache call"
    );
    assert_never_shown(&[&initial, &honest], &[e.message()]);
    Ok(())
}
