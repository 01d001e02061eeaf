//! rotate-postgres end to end: moto server (Secrets Manager) through the real SDK, and a real
//! PostgreSQL that only accepts scram-sha-256 logins. Each test has its own moto account and
//! its own roles, so they run in parallel.

use anyhow::Result;
use serde_json::{Value, json};
use sqlx::Connection;
use tests::invoke;
use tests::rotation::{
    STEPS, create_secret, outcome, rotate, stages, start_rotation, step_event, value_at,
};
use tests::{
    MotoAccount, PrivateCluster, Stack, assert_never_shown, capture_logs, dead_endpoint,
    is_login_refused, pg_connect, secrets_manager_at, unique,
};

fn rotator(client: aws_sdk_secretsmanager::Client) -> rotate_postgres::PostgresRotator {
    rotate_postgres::rotator(client, rotate_postgres::Config::default())
}

/// A login role with `password` on the stack's cluster, and the seed-shaped secret for it.
async fn seed_role(stack: &Stack, user: &str, password: &str) -> Result<Value> {
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
    )))
    .execute(&mut admin)
    .await?;
    Ok(json!({
        "username": user, "password": password, "engine": "postgres",
        "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres",
        "sslmode": "disable", "dbClusterIdentifier": "macro-ai-dev", "tags": {"keep": true}
    }))
}

/// One test's world: a moto account of its own, a login role with a fresh password on the
/// stack's cluster, and the dev database secret for it (logs captured).
struct DevDatabase {
    stack: &'static Stack,
    account: MotoAccount,
    client: aws_sdk_secretsmanager::Client,
    user: String,
    initial: Value,
    arn: String,
}

impl DevDatabase {
    async fn seeded() -> Result<Self> {
        capture_logs();
        let stack = Stack::get();
        let account = MotoAccount::new();
        let client = stack.secrets_manager(&account);
        let user = unique("app");
        let initial = seed_role(stack, &user, &unique("initial")).await?;
        let arn = create_secret(&client, "macro-ai/dev/database", &initial).await?;
        Ok(Self {
            stack,
            account,
            client,
            user,
            initial,
            arn,
        })
    }
}

fn password(v: &Value) -> &str {
    v["password"].as_str().unwrap_or_default()
}

async fn logs_in(stack: &Stack, secret: &Value) -> bool {
    let user = secret["username"].as_str().unwrap_or_default();
    match stack.pg_connect(user, password(secret)).await {
        Ok(c) => {
            let _ = c.close().await;
            true
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_full_rotation_changes_the_password_and_moves_the_labels() -> Result<()> {
    let DevDatabase {
        stack,
        client,
        user,
        initial: old,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let first_version = stages(&client, &arn).await?.into_keys().next().unwrap();

    let token = rotate(&rotator(client.clone()), &client, &arn).await?;

    let versions = stages(&client, &arn).await?;
    assert_eq!(
        versions[&token],
        vec!["AWSCURRENT".to_string()],
        "{versions:?}"
    );
    assert_eq!(
        versions[&first_version],
        vec!["AWSPREVIOUS".to_string()],
        "{versions:?}"
    );
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let new_password = password(&current);
    assert_eq!(new_password.len(), 32);
    assert!(!new_password.chars().any(|c| ":/@\"'\\`".contains(c)));
    assert!(new_password != password(&old), "the password must change");
    // Every field but the password is kept, unknown ones included.
    let mut expected = old.clone();
    expected["password"] = json!(new_password);
    assert!(
        current == expected,
        "AWSCURRENT must keep every other field"
    );

    assert!(logs_in(stack, &current).await, "AWSCURRENT must log in");
    let refused = stack.pg_connect(&user, password(&old)).await.err();
    assert!(
        refused.as_ref().is_some_and(is_login_refused),
        "the old password must be refused"
    );
    assert_never_shown(&[password(&old), new_password], &[]);
    // The capture works: the audit lines of this rotation are in it.
    let logs = tests::captured_logs();
    assert!(logs.contains("AWSCURRENT moved to the new version") && logs.contains(&arn));
    Ok(())
}

#[tokio::test]
async fn every_step_twice_is_a_no_op_and_a_second_rotation_works() -> Result<()> {
    let DevDatabase {
        stack,
        client,
        initial,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let f = rotator(client.clone());

    let token = start_rotation(&client, &arn).await?;
    let mut seen = Vec::new();
    for step in STEPS {
        let first = invoke(&f, step_event(step, &arn, &token)).await;
        let pending = if step == "finishSecret" {
            "AWSCURRENT"
        } else {
            "AWSPENDING"
        };
        let value_after_first = value_at(&client, &arn, pending).await.ok();
        let second = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(
            value_at(&client, &arn, pending).await.ok() == value_after_first,
            "{step} run twice must not change the value"
        );
        seen.push((step, outcome(&first), outcome(&second)));
    }
    assert_eq!(
        seen,
        vec![
            ("createSecret", "created".into(), "alreadyCreated".into()),
            ("setSecret", "set".into(), "alreadySet".into()),
            ("testSecret", "tested".into(), "tested".into()),
            ("finishSecret", "finished".into(), "alreadyCurrent".into()),
        ]
    );
    let after_first = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(logs_in(stack, &after_first).await);

    // A version that is no longer AWSPENDING (here: the one AWSPREVIOUS now labels) is refused.
    let previous = stages(&client, &arn)
        .await?
        .into_iter()
        .find(|(_, labels)| labels.iter().any(|l| l == "AWSPREVIOUS"))
        .map(|(v, _)| v)
        .expect("a previous version");
    let r = invoke(&f, step_event("setSecret", &arn, &previous)).await;
    assert_eq!(r.as_ref().err().map(|e| e.error_type()), Some("NotPending"));

    // A leftover AWSPENDING on the current version (a rotation that ended without the service
    // clearing it) is cleared by a retried finishSecret, so the next rotation can start.
    client
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .move_to_version_id(&token)
        .send()
        .await?;
    let r = invoke(&f, step_event("finishSecret", &arn, &token)).await;
    assert_eq!(outcome(&r), "alreadyCurrent");
    assert_eq!(
        stages(&client, &arn).await?[&token],
        vec!["AWSCURRENT".to_string()]
    );

    let second = rotate(&f, &client, &arn).await?;
    let versions = stages(&client, &arn).await?;
    assert_eq!(versions[&second], vec!["AWSCURRENT".to_string()]);
    assert_eq!(versions[&token], vec!["AWSPREVIOUS".to_string()]);
    assert!(
        !versions.values().flatten().any(|l| l == "AWSPENDING"),
        "{versions:?}"
    );
    let after_second = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(logs_in(stack, &after_second).await);
    assert!(
        !logs_in(stack, &after_first).await,
        "the first rotation's password is refused"
    );
    assert_never_shown(
        &[
            password(&initial),
            password(&after_first),
            password(&after_second),
        ],
        &[],
    );
    Ok(())
}

#[tokio::test]
async fn postgres_down_at_set_secret_fails_cleanly_and_the_retry_converges() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let cluster = PrivateCluster::start()?;
    let account = MotoAccount::new();
    let client = stack.secrets_manager(&account);
    let f = rotator(client.clone());
    let user = unique("app");
    let initial_password = unique("initial");
    let mut admin = cluster.admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{initial_password}'"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    let initial = json!({"username": user, "password": initial_password, "engine": "postgres",
                         "host": "127.0.0.1", "port": cluster.port, "dbname": "postgres",
                         "sslmode": "disable"});
    let arn = create_secret(&client, "macro-ai/staging/database", &initial).await?;
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&f, step_event("createSecret", &arn, &token)).await),
        "created"
    );

    cluster.stop()?;
    let failed = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let err = failed
        .as_ref()
        .expect_err("setSecret must fail while PostgreSQL is down");
    assert_eq!(err.error_type(), "BackendUnavailable");
    assert!(
        err.message().contains("could not reach PostgreSQL"),
        "{}",
        err.message()
    );
    let failed_test = invoke(&f, step_event("testSecret", &arn, &token)).await;
    assert_eq!(
        failed_test.as_ref().err().map(|e| e.error_type()),
        Some("BackendUnavailable")
    );

    cluster.resume()?;
    let still = pg_connect(
        "127.0.0.1",
        cluster.port,
        &user,
        &initial_password,
        "postgres",
    )
    .await;
    assert!(
        still.is_ok(),
        "AWSCURRENT must still log in after the failed step"
    );
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "retried {step}: {}", outcome(&r));
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let new_login = pg_connect(
        "127.0.0.1",
        cluster.port,
        &user,
        password(&current),
        "postgres",
    )
    .await;
    assert!(new_login.is_ok(), "the rotated password logs in");
    assert_never_shown(&[&initial_password, password(&current)], &[err.message()]);
    Ok(())
}

#[tokio::test]
async fn the_aws_emulator_unreachable_fails_cleanly_and_the_retry_converges() -> Result<()> {
    let DevDatabase {
        stack,
        account,
        client,
        initial,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let healthy = rotator(client.clone());
    let cut_off = rotator(secrets_manager_at(&dead_endpoint(), &account));
    let token = start_rotation(&client, &arn).await?;
    let before = stages(&client, &arn).await?;

    // Unreachable at createSecret: nothing stored, AWSCURRENT still logs in.
    let r = invoke(&cut_off, step_event("createSecret", &arn, &token)).await;
    let err = r
        .as_ref()
        .expect_err("createSecret must fail without the emulator");
    assert_eq!(err.error_type(), "SecretStoreUnavailable");
    assert!(
        err.message().contains("DescribeSecret"),
        "{}",
        err.message()
    );
    assert_eq!(stages(&client, &arn).await?, before);
    assert!(logs_in(stack, &initial).await);

    for step in ["createSecret", "setSecret", "testSecret"] {
        assert!(
            invoke(&healthy, step_event(step, &arn, &token))
                .await
                .is_ok(),
            "{step}"
        );
    }
    // Unreachable at finishSecret: the labels stay where they were; the retry moves them.
    let r = invoke(&cut_off, step_event("finishSecret", &arn, &token)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("SecretStoreUnavailable")
    );
    assert_eq!(
        stages(&client, &arn).await?[&token],
        vec!["AWSPENDING".to_string()]
    );
    assert_eq!(
        outcome(&invoke(&healthy, step_event("finishSecret", &arn, &token)).await),
        "finished"
    );
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(logs_in(stack, &current).await);
    assert_never_shown(&[password(&initial), password(&current)], &[]);
    Ok(())
}

#[tokio::test]
async fn alternating_users_keep_both_logins_and_share_every_object() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let account = MotoAccount::new();
    let client = stack.secrets_manager(&account);
    let user = unique("app");
    let schema = unique("chat");
    let initial = seed_role(stack, &user, &unique("initial")).await?;
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA {schema} AUTHORIZATION {user}"
    )))
    .execute(&mut admin)
    .await?;
    let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password(),
                        "engine": "postgres", "host": stack.pg_host, "port": stack.pg_port,
                        "dbname": "postgres", "sslmode": "disable"});
    let master_arn = create_secret(&client, "macro-ai/dev/database-master", &master).await?;
    let f = rotate_postgres::rotator(
        client.clone(),
        rotate_postgres::Config {
            postgres: shared::postgres::PostgresOptions {
                master_secret_arn: Some(master_arn.clone()),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let mut secret = initial.clone();
    secret["masterarn"] = json!(master_arn);
    let arn = create_secret(&client, "macro-ai/dev/database", &secret).await?;

    // Before the first swap, the original user creates a table.
    let mut conn = stack.pg_connect(&user, password(&initial)).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {schema}.before_swap (id int); INSERT INTO {schema}.before_swap VALUES (1)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;

    rotate(&f, &client, &arn).await?;
    let first = value_at(&client, &arn, "AWSCURRENT").await?;
    assert_eq!(first["username"], json!(format!("{user}_clone")));
    assert_eq!(first["masterarn"], json!(master_arn));
    // The clone reads and writes the original user's table, and creates one of its own.
    let mut conn = stack
        .pg_connect(&format!("{user}_clone"), password(&first))
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.before_swap VALUES (2); UPDATE {schema}.before_swap SET id = id + 10; \
         CREATE TABLE {schema}.after_swap (id int); INSERT INTO {schema}.after_swap VALUES (1)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;

    rotate(&f, &client, &arn).await?;
    let second = value_at(&client, &arn, "AWSCURRENT").await?;
    let previous = value_at(&client, &arn, "AWSPREVIOUS").await?;
    assert_eq!(second["username"], json!(user));
    assert_eq!(previous["username"], json!(format!("{user}_clone")));
    assert!(logs_in(stack, &second).await, "AWSCURRENT logs in");
    assert!(logs_in(stack, &previous).await, "AWSPREVIOUS still logs in");

    // The original user fully uses the table the clone created, and can even drop it.
    let mut conn = stack.pg_connect(&user, password(&second)).await?;
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT sum(id) FROM {schema}.before_swap) + (SELECT count(*) FROM {schema}.after_swap)"
    )))
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(n, 11 + 12 + 1);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "UPDATE {schema}.after_swap SET id = 5; ALTER TABLE {schema}.after_swap ADD COLUMN note text"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    assert_never_shown(
        &[
            password(&initial),
            password(&first),
            password(&second),
            stack.pg_admin_password(),
        ],
        &[],
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() -> Result<()> {
    let DevDatabase {
        stack,
        client,
        user,
        initial: good,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let f = rotator(client.clone());
    let token = start_rotation(&client, &arn).await?;
    let before = stages(&client, &arn).await?;

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!(["not", "an", "event"]),
            "InvalidEvent",
            "expected a JSON object",
        ),
        (
            json!({"Step": "rotateEverything", "SecretId": arn, "ClientRequestToken": token}),
            "UnknownStep",
            "rotateEverything",
        ),
        (
            json!({"SecretId": arn, "ClientRequestToken": token}),
            "InvalidEvent",
            "missing field `Step`",
        ),
        (
            step_event("setSecret", &arn, "no-such-version-token-0000000000000000"),
            "UnknownVersion",
            "is not a version of secret",
        ),
        (
            step_event("setSecret", &arn, &token),
            "MissingSecretValue",
            "no AWSPENDING value",
        ),
    ];
    let mut messages = Vec::new();
    for (event, error_type, expect) in cases {
        let r = invoke(&f, event.clone()).await;
        let e = r
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("{event} must fail"));
        assert_eq!(e.error_type(), error_type, "{event}: {}", e.message());
        assert!(e.message().contains(expect), "{event}: {}", e.message());
        messages.push(e.message().to_string());
    }

    // Secrets of the wrong shape: createSecret refuses them and stores nothing.
    for (bad, expect) in [
        (
            json!({"username": user, "engine": "postgres", "host": "127.0.0.1"}),
            "no `password` field",
        ),
        (
            json!({"username": user, "password": "mysql-secret-pw", "engine": "mysql",
                "host": "127.0.0.1"}),
            "engine `mysql`",
        ),
    ] {
        let bad_arn = create_secret(&client, &unique("macro-ai/dev/bad"), &bad).await?;
        let bad_token = start_rotation(&client, &bad_arn).await?;
        let bad_before = stages(&client, &bad_arn).await?;
        let r = invoke(&f, step_event("createSecret", &bad_arn, &bad_token)).await;
        let e = r.as_ref().expect_err("a malformed secret must be refused");
        assert_eq!(e.error_type(), "InvalidSecret");
        assert!(e.message().contains(expect), "{}", e.message());
        assert_eq!(stages(&client, &bad_arn).await?, bad_before);
        assert!(
            value_at(&client, &bad_arn, "AWSPENDING").await.is_err(),
            "nothing pending stored"
        );
        messages.push(e.message().to_string());
    }

    // A secret whose rotation is not enabled is not touched.
    let plain = create_secret(&client, "macro-ai/dev/not-rotated", &good).await?;
    let version = stages(&client, &plain).await?.into_keys().next().unwrap();
    let r = invoke(&f, step_event("createSecret", &plain, &version)).await;
    assert_eq!(
        r.as_ref().err().map(|e| e.error_type()),
        Some("RotationDisabled")
    );

    assert_eq!(stages(&client, &arn).await?, before, "no label moved");
    assert!(value_at(&client, &arn, "AWSCURRENT").await? == good);
    assert!(logs_in(stack, &good).await);
    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_never_shown(&[password(&good), "mysql-secret-pw"], &texts);
    Ok(())
}

#[tokio::test]
async fn validation_reports_a_working_and_a_broken_secret_and_changes_nothing() -> Result<()> {
    let DevDatabase {
        client,
        initial: good,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let f = rotator(client.clone());
    let r = invoke(&f, json!({"validate": arn})).await;
    assert_eq!(outcome(&r), "valid");

    let mut wrong = good.clone();
    wrong["password"] = json!(unique("wrong"));
    let broken = create_secret(&client, "macro-ai/dev/stale", &wrong).await?;
    let before = stages(&client, &broken).await?;
    let r = invoke(&f, json!({"validate": broken})).await;
    let e = r
        .as_ref()
        .expect_err("a wrong password must fail validation");
    assert_eq!(e.error_type(), "LoginRefused");
    assert!(
        e.message()
            .contains("PostgreSQL refused the AWSCURRENT login"),
        "{}",
        e.message()
    );
    assert_eq!(stages(&client, &broken).await?, before);
    assert_never_shown(&[password(&good), password(&wrong)], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn set_secret_falls_back_to_awsprevious_when_awscurrent_is_refused() -> Result<()> {
    let DevDatabase {
        stack,
        client,
        user,
        initial,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let f = rotator(client.clone());
    rotate(&f, &client, &arn).await?;
    // The database went back to the previous password (restored from a snapshot, say):
    // AWSCURRENT is refused, AWSPREVIOUS logs in.
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {user} PASSWORD '{}'",
        password(&initial)
    )))
    .execute(&mut admin)
    .await?;
    let stale = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(!logs_in(stack, &stale).await);
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(
        logs_in(stack, &current).await,
        "the rotation logged in with AWSPREVIOUS and set the new password"
    );
    assert_never_shown(
        &[password(&initial), password(&stale), password(&current)],
        &[],
    );
    Ok(())
}

/// A retried setSecret whose change the server applied (its reply lost) on a secret that has an
/// AWSPREVIOUS: AWSCURRENT is refused, AWSPENDING is found in place and AWSPREVIOUS is never
/// tried, so the retry cannot depend on AWSPREVIOUS's login (its TLS, its server's mood). And a
/// first try, on the happy path, logs in once, with no refused AWSPENDING login before it.
#[tokio::test]
async fn a_retried_set_finds_the_change_in_place_before_trying_awsprevious() -> Result<()> {
    let DevDatabase {
        stack,
        client,
        user,
        arn,
        ..
    } = DevDatabase::seeded().await?;
    let f = rotator(client.clone());
    rotate(&f, &client, &arn).await?;
    // The first rotation's setSecret: one login, AWSCURRENT's, and no refused one.
    let after_first = settled_logins(stack, &user).await?;
    assert_eq!(after_first.refused, 0, "{after_first:?}");

    let token = start_rotation(&client, &arn).await?;
    assert!(
        invoke(&f, step_event("createSecret", &arn, &token))
            .await
            .is_ok()
    );
    let pending = value_at(&client, &arn, "AWSPENDING").await?;
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {user} PASSWORD '{}'",
        password(&pending)
    )))
    .execute(&mut admin)
    .await?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    assert_eq!(outcome(&r), "alreadySet");
    let after_retry = settled_logins(stack, &user).await?;
    assert_eq!(
        after_retry.refused - after_first.refused,
        1,
        "AWSCURRENT refused, then AWSPENDING works: AWSPREVIOUS not tried ({after_retry:?})"
    );
    for step in ["testSecret", "finishSecret"] {
        assert!(
            invoke(&f, step_event(step, &arn, &token)).await.is_ok(),
            "{step}"
        );
    }
    assert!(logs_in(stack, &value_at(&client, &arn, "AWSCURRENT").await?).await);
    Ok(())
}

/// The role's logins once the server's log has them all (it writes them as they happen; a
/// refusal may land a moment after the client saw it).
async fn settled_logins(stack: &Stack, user: &str) -> Result<tests::Logins> {
    let mut seen = stack.pg_logins(user)?;
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = stack.pg_logins(user)?;
        if now == seen {
            return Ok(now);
        }
        seen = now;
    }
    Ok(seen)
}
