//! rotate-postgres where production differs from the local default: secrets rewritten by someone
//! who may only `PutSecretValue` (the confused deputy), RDS-managed and Aurora secrets, a role
//! locked by another session, and TLS with a private CA, proven from the server's own log.

use anyhow::Result;
use serde_json::{Value, json};
use shared::postgres::{PostgresOptions, SslMode};
use sqlx::{ConnectOptions, Connection};
use std::time::{Duration, Instant};
use tests::faults::EvilPostgres;
use tests::invoke;
use tests::rotation::{
    create_secret, outcome, put_current, rotate, stages, start_rotation, step_event,
    steps_until_failure, value_at,
};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

fn rotator(
    client: aws_sdk_secretsmanager::Client,
    postgres: PostgresOptions,
) -> rotate_postgres::PostgresRotator {
    rotate_postgres::rotator(
        client,
        rotate_postgres::Config {
            postgres,
            ..Default::default()
        },
    )
}

/// The function as the template deploys it for the stack's database: `PG_HOST`/`PG_PORT` pinned.
fn pinned(stack: &Stack) -> PostgresOptions {
    PostgresOptions {
        pinned: Some((stack.pg_host.clone(), stack.pg_port)),
        ..PostgresOptions::default()
    }
}

/// The same, with the one master secret it may use (`DB_MASTER_SECRET_ARN`).
fn with_master(options: PostgresOptions, master_arn: &str) -> PostgresOptions {
    PostgresOptions {
        master_secret_arn: Some(master_arn.to_string()),
        ..options
    }
}

fn with_ca(ca: &std::path::Path) -> PostgresOptions {
    PostgresOptions {
        ssl_root_cert: Some(ca.to_path_buf()),
        ..PostgresOptions::default()
    }
}

fn password(v: &Value) -> &str {
    v["password"].as_str().unwrap_or_default()
}

async fn admin_sql(stack: &Stack, sql: &str) -> Result<()> {
    let mut admin = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

async fn role_exists(stack: &Stack, role: &str) -> Result<bool> {
    let mut admin = stack.pg_admin().await?;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_one(&mut admin)
        .await?;
    Ok(n == 1)
}

/// A secret for `user` on the stack's cluster, over TLS unless `extra` says otherwise.
fn secret_for(stack: &Stack, user: &str, password: &str, extra: Value) -> Value {
    let mut v = json!({"username": user, "password": password, "engine": "postgres",
                       "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres"});
    if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v
}

#[tokio::test]
async fn a_rewritten_username_never_borrows_the_master_login() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(&client, "macro-ai/dev/database-master", &master).await?;
    let f = rotator(client.clone(), with_master(pinned(stack), &master_arn));
    let app = unique("app");
    let app_password = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {app} LOGIN PASSWORD '{app_password}'"),
    )
    .await?;
    let honest = secret_for(
        stack,
        &app,
        &app_password,
        json!({"masterarn": master_arn, "sslmode": "require"}),
    );
    let admin = stack.pg_admin_user.clone();
    let mut messages = Vec::new();

    // Someone who may only PutSecretValue rewrites AWSCURRENT's username to the master's, or to
    // the name whose alternate is the master's. AWSPREVIOUS (the honest value) logs in, but as
    // a user outside the rewritten pair, so it proves nothing: refused, nothing changed.
    for (name, hostile) in [
        ("master", admin.clone()),
        ("master_clone", format!("{admin}_clone")),
    ] {
        let arn = create_secret(&client, &unique("macro-ai/dev/database"), &honest).await?;
        let mut rewritten = honest.clone();
        rewritten["username"] = json!(hostile);
        rewritten["password"] = json!(unique("guess"));
        put_current(&client, &arn, &rewritten).await?;
        let token = start_rotation(&client, &arn).await?;
        let failure = steps_until_failure(&f, &arn, &token).await;
        let (error_type, message) = failure.expect("the rotation must be refused");
        assert_eq!(error_type, "LoginRefused", "{name}: {message}");
        assert!(message.contains("setSecret"), "{name}: {message}");
        messages.push(message);
        assert!(
            !role_exists(stack, &format!("{admin}_clone")).await?,
            "{name}"
        );
        assert!(
            stack.pg_admin().await.is_ok(),
            "{name}: the master still logs in"
        );
        assert_eq!(
            stages(&client, &arn).await?[&token],
            vec!["AWSPENDING".to_string()]
        );
    }

    // An application secret that really holds the master's login is refused too (the proof
    // passes, the pair includes the master's user).
    let holds_master = secret_for(
        stack,
        &admin,
        stack.pg_admin_password(),
        json!({"masterarn": master_arn, "sslmode": "require"}),
    );
    let arn = create_secret(&client, &unique("macro-ai/dev/database"), &holds_master).await?;
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&f, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "RotationRefused", "{message}");
    assert!(message.contains("master secret's user"), "{message}");
    assert!(!role_exists(stack, &format!("{admin}_clone")).await?);
    messages.push(message);

    // A superuser pair, and a pair whose owner has CREATEROLE the proven clone does not share.
    let su = unique("su");
    let su_password = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {su} SUPERUSER LOGIN PASSWORD '{su_password}'"),
    )
    .await?;
    let ops = unique("ops");
    let ops_password = unique("initial");
    admin_sql(
        stack,
        &format!(
            "CREATE ROLE {ops} CREATEROLE NOLOGIN; \
             CREATE ROLE {ops}_clone LOGIN PASSWORD '{ops_password}'"
        ),
    )
    .await?;
    for (user, pass, expect) in [
        (su.clone(), su_password.clone(), "superuser"),
        (format!("{ops}_clone"), ops_password.clone(), "CREATEROLE"),
    ] {
        let value = secret_for(
            stack,
            &user,
            &pass,
            json!({"masterarn": master_arn, "sslmode": "require"}),
        );
        let arn = create_secret(&client, &unique("macro-ai/dev/database"), &value).await?;
        let token = start_rotation(&client, &arn).await?;
        let (error_type, message) = steps_until_failure(&f, &arn, &token)
            .await
            .expect("refused");
        assert_eq!(error_type, "RotationRefused", "{message}");
        assert!(message.contains(expect), "{message}");
        messages.push(message);
    }
    assert!(!role_exists(stack, &format!("{su}_clone")).await?);
    let mut conn = stack.pg_admin().await?;
    let (member, can_login): (bool, bool) = sqlx::query_as(
        "SELECT pg_has_role($1, $2, 'MEMBER'), (SELECT rolcanlogin FROM pg_roles WHERE rolname = $2)",
    )
    .bind(format!("{ops}_clone"))
    .bind(&ops)
    .fetch_one(&mut conn)
    .await?;
    assert!(
        !member && !can_login,
        "no grant, no login for the CREATEROLE owner"
    );

    // A user of no pair (`x_clone_clone`, whose alternate `x_clone` would pair with `x`), a clone
    // never linked to its owner, and an existing clone that belongs to a role its owner does not.
    let (x, xx_password) = (unique("x"), unique("initial"));
    let (grp, grp_password) = (unique("grp"), unique("initial"));
    let (ap, ap_password) = (unique("ap"), unique("initial"));
    let (un, un_password) = (unique("un"), unique("initial"));
    let (mb, mb_password) = (unique("mb"), unique("initial"));
    let mallory = unique("mallory");
    admin_sql(
        stack,
        &format!(
            "CREATE ROLE {x} NOLOGIN; CREATE ROLE {x}_clone_clone LOGIN PASSWORD '{xx_password}'; \
             CREATE ROLE {grp} NOLOGIN; CREATE ROLE {grp}_clone LOGIN PASSWORD '{grp_password}'; \
             CREATE ROLE {ap} LOGIN PASSWORD '{ap_password}'; CREATE ROLE {ap}_clone LOGIN; \
             GRANT {ap} TO {ap}_clone; GRANT pg_write_server_files TO {ap}_clone; \
             CREATE ROLE {un} LOGIN PASSWORD '{un_password}'; CREATE ROLE {un}_clone LOGIN; \
             CREATE ROLE {mb} LOGIN PASSWORD '{mb_password}'; CREATE ROLE {mb}_clone LOGIN; \
             GRANT {mb} TO {mb}_clone; CREATE ROLE {mallory} LOGIN; GRANT {mb}_clone TO {mallory}"
        ),
    )
    .await?;
    for (user, pass, expect) in [
        (
            format!("{x}_clone_clone"),
            &xx_password,
            "not one of a pair",
        ),
        (format!("{grp}_clone"), &grp_password, "is not adopted"),
        (ap.clone(), &ap_password, "pg_write_server_files"),
        // A clone someone made beforehand (not linked), and one with a member of its own.
        (un.clone(), &un_password, "is not adopted"),
        (mb.clone(), &mb_password, "has members of its own"),
    ] {
        let value = secret_for(
            stack,
            &user,
            pass,
            json!({"masterarn": master_arn, "sslmode": "require"}),
        );
        let arn = create_secret(&client, &unique("macro-ai/dev/database"), &value).await?;
        let token = start_rotation(&client, &arn).await?;
        let (error_type, message) = steps_until_failure(&f, &arn, &token)
            .await
            .unwrap_or_else(|| panic!("{user} was not refused"));
        assert_eq!(error_type, "RotationRefused", "{user}: {message}");
        assert!(message.contains(expect), "{user}: {message}");
        messages.push(message);
    }
    assert!(!role_exists(stack, &format!("{x}_clone")).await?);
    let mut conn = stack.pg_admin().await?;
    let (grp_login, grp_linked): (bool, bool) = sqlx::query_as(
        "SELECT (SELECT rolcanlogin FROM pg_roles WHERE rolname = $1), \
                (SELECT pg_has_role($2, $1, 'MEMBER'))",
    )
    .bind(&grp)
    .bind(format!("{grp}_clone"))
    .fetch_one(&mut conn)
    .await?;
    assert!(
        !grp_login && !grp_linked,
        "the unlinked owner stays NOLOGIN, unlinked"
    );
    conn.close().await?;

    // Alternating users with no master configured (DB_MASTER_SECRET_ARN unset): refused.
    let unconfigured = rotator(client.clone(), pinned(stack));
    let arn = create_secret(&client, &unique("macro-ai/dev/database"), &honest).await?;
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&unconfigured, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "RotationRefused", "{message}");
    assert!(message.contains("DB_MASTER_SECRET_ARN"), "{message}");

    // `masterarn` naming the rotated secret itself by its partial ARN, the function pinned to
    // that secret by its name (a misconfiguration): the strings differ, the secret does not.
    let name = unique("macro-ai/dev/database");
    let arn = create_secret(&client, &name, &honest).await?;
    let partial = arn
        .rsplit_once('-')
        .map(|(head, _)| head.to_string())
        .expect("-XXXXXX");
    let mut own = honest.clone();
    own["masterarn"] = json!(partial);
    put_current(&client, &arn, &own).await?;
    let misconfigured = rotator(client.clone(), with_master(pinned(stack), &name));
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&misconfigured, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "RotationRefused", "{message}");
    assert!(message.contains("the secret being rotated"), "{message}");

    // The honest secret still rotates, its `masterarn` the master's name while the function is
    // pinned to the master's ARN: one secret, compared by the ARN Secrets Manager gives.
    let mut by_name = honest.clone();
    by_name["masterarn"] = json!("macro-ai/dev/database-master");
    let arn = create_secret(&client, &unique("macro-ai/dev/database"), &by_name).await?;
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert_eq!(current["username"], json!(format!("{app}_clone")));
    assert!(
        stack
            .pg_connect_tls(&format!("{app}_clone"), password(&current))
            .await
            .is_ok()
    );
    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_never_shown(
        &[
            stack.pg_admin_password(),
            &app_password,
            &su_password,
            &ops_password,
            &xx_password,
            &grp_password,
            &ap_password,
            &un_password,
            &mb_password,
            password(&current),
        ],
        &texts,
    );
    Ok(())
}

#[tokio::test]
async fn an_rds_managed_master_secret_and_an_aurora_engine_rotate() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    // What RDS writes into a managed master secret (`rds!cluster-…`): the login, nothing else.
    let managed = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(
        &client,
        &format!("rds!cluster-{}", unique("x").replace('_', "-")),
        &managed,
    )
    .await?;
    let f = rotator(client.clone(), with_master(pinned(stack), &master_arn));
    let user = unique("app");
    let initial = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{initial}'"),
    )
    .await?;
    // The seed's secret: an Aurora cluster endpoint (engine as RDS writes it for Aurora).
    let value = secret_for(
        stack,
        &user,
        &initial,
        json!({"engine": "Aurora-PostgreSQL", "masterarn": master_arn,
               "dbClusterIdentifier": "macro-ai-dev-aurora"}),
    );
    let arn = create_secret(&client, "macro-ai/dev/database", &value).await?;
    rotate(&f, &client, &arn).await?;
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let previous = value_at(&client, &arn, "AWSPREVIOUS").await?;
    assert_eq!(current["username"], json!(user));
    assert_eq!(current["engine"], json!("Aurora-PostgreSQL"));
    assert_eq!(previous["username"], json!(format!("{user}_clone")));
    for v in [&current, &previous] {
        let u = v["username"].as_str().unwrap_or_default();
        assert!(
            stack.pg_connect_tls(u, password(v)).await.is_ok(),
            "{u} logs in"
        );
    }
    // Every login of the role and its clone went over TLS (the default, `require`).
    for role in [user.clone(), format!("{user}_clone")] {
        let seen = stack.pg_logins(&role)?;
        assert_eq!(seen.plaintext, 0, "{role}: {seen:?}");
        assert!(seen.tls_by_function >= 2, "{role}: {seen:?}");
    }
    assert_never_shown(
        &[
            &initial,
            password(&current),
            password(&previous),
            stack.pg_admin_password(),
        ],
        &[],
    );
    Ok(())
}

#[tokio::test]
async fn a_role_locked_by_another_session_fails_typed_and_the_retry_converges() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(
        client.clone(),
        PostgresOptions {
            statement_timeout: Duration::from_secs(1),
            ..PostgresOptions::default()
        },
    );
    let user = unique("app");
    let initial = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{initial}'"),
    )
    .await?;
    let arn = create_secret(
        &client,
        "macro-ai/dev/database",
        &secret_for(stack, &user, &initial, json!({})),
    )
    .await?;
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&f, step_event("createSecret", &arn, &token)).await),
        "created"
    );

    // Another session alters the role and keeps its transaction open: the row stays locked.
    let mut blocker = stack.pg_admin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; ALTER ROLE {user} CONNECTION LIMIT 50"
    )))
    .execute(&mut blocker)
    .await?;
    let started = Instant::now();
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let took = started.elapsed();
    let e = r.as_ref().expect_err("setSecret must give up on the lock");
    assert_eq!(e.error_type(), "BackendUnavailable", "{}", e.message());
    assert!(e.message().contains("lock"), "{}", e.message());
    assert!(
        took < Duration::from_secs(4),
        "gave up after {took:?}, not within the 1 s limit"
    );

    sqlx::raw_sql("ROLLBACK").execute(&mut blocker).await?;
    blocker.close().await?;
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "retried {step}: {}", outcome(&r));
    }
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(
        stack
            .pg_connect_tls(&user, password(&current))
            .await
            .is_ok()
    );
    assert_never_shown(&[&initial, password(&current)], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn tls_with_a_private_ca_verifies_the_server_and_never_goes_plaintext() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let verified = rotator(client.clone(), with_ca(&stack.tls_ca));
    let wrong_ca = rotator(client.clone(), with_ca(&stack.tls_wrong_ca));

    // verify-full against localhost and against 127.0.0.1 (the certificate names both), and no
    // sslmode at all (the default, require): each rotates, every login of the role is TLS.
    // And `disable`, which the function's floor (PG_MIN_SSLMODE, default require) overrides.
    for (host, sslmode) in [
        ("localhost", Some("verify-full")),
        ("127.0.0.1", Some("verify-full")),
        ("localhost", None),
        ("127.0.0.1", Some("disable")),
    ] {
        let user = unique("app");
        let initial = unique("initial");
        admin_sql(
            stack,
            &format!("CREATE ROLE {user} LOGIN PASSWORD '{initial}'"),
        )
        .await?;
        let mut value = secret_for(stack, &user, &initial, json!({"host": host}));
        if let Some(mode) = sslmode {
            value["sslmode"] = json!(mode);
        }
        let arn = create_secret(&client, &unique("macro-ai/dev/database"), &value).await?;
        rotate(&verified, &client, &arn).await?;
        let current = value_at(&client, &arn, "AWSCURRENT").await?;
        assert!(
            stack
                .pg_connect_tls(&user, password(&current))
                .await
                .is_ok()
        );
        let seen = stack.pg_logins(&user)?;
        assert_eq!(seen.plaintext, 0, "{host} {sslmode:?}: {seen:?}");
        // Authorized: setSecret's proof login and testSecret's (setSecret's first check, with the
        // pending password, is refused: it is not set yet).
        assert!(seen.tls_by_function >= 2, "{host} {sslmode:?}: {seen:?}");
    }

    // The wrong CA: refused at the handshake, typed, and never retried in plaintext.
    let user = unique("app");
    let initial = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{initial}'"),
    )
    .await?;
    let value = secret_for(
        stack,
        &user,
        &initial,
        json!({"host": "localhost", "sslmode": "verify-full"}),
    );
    let arn = create_secret(&client, &unique("macro-ai/dev/database"), &value).await?;
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&wrong_ca, step_event("createSecret", &arn, &token)).await),
        "created"
    );
    let r = invoke(&wrong_ca, step_event("setSecret", &arn, &token)).await;
    let e = r
        .as_ref()
        .expect_err("an untrusted server certificate must be refused");
    assert_eq!(e.error_type(), "BackendError", "{}", e.message());
    assert!(e.message().contains("TLS handshake"), "{}", e.message());
    let seen = stack.pg_logins(&user)?;
    assert_eq!(
        seen,
        tests::Logins::default(),
        "no login of any kind: {seen:?}"
    );
    assert!(
        stack.pg_connect_tls(&user, &initial).await.is_ok(),
        "AWSCURRENT unchanged"
    );
    assert_never_shown(&[&initial], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn the_awsprevious_fallback_keeps_awscurrent_s_tls() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = rotator(client.clone(), with_ca(&stack.tls_ca));
    let user = unique("app");
    let works = unique("works");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{works}'"),
    )
    .await?;
    // AWSPREVIOUS holds the password the server accepts, with `sslmode: disable`; AWSCURRENT
    // (verify-full) holds one the server refuses: a rotation that set the role's password and
    // never finished, then a restore.
    let old = secret_for(stack, &user, &works, json!({"sslmode": "disable"}));
    let arn = create_secret(&client, "macro-ai/dev/database", &old).await?;
    let stale = secret_for(
        stack,
        &user,
        &unique("stale"),
        json!({"sslmode": "verify-full"}),
    );
    put_current(&client, &arn, &stale).await?;
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert_eq!(current["sslmode"], json!("verify-full"));
    assert!(
        stack
            .pg_connect_tls(&user, password(&current))
            .await
            .is_ok()
    );
    let seen = stack.pg_logins(&user)?;
    assert_eq!(
        seen.plaintext, 0,
        "the fallback login kept AWSCURRENT's TLS: {seen:?}"
    );
    assert!(seen.tls_by_function >= 2, "{seen:?}");
    assert_never_shown(&[&works, password(&stale), password(&current)], &[]);
    Ok(())
}

/// Removes a leftover AWSPENDING label so another rotation can start (what an operator does after
/// a refused rotation on real Secrets Manager; moto needs it too).
async fn clear_pending(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<()> {
    for (version, labels) in stages(client, arn).await? {
        if labels == vec!["AWSPENDING".to_string()] {
            client
                .update_secret_version_stage()
                .secret_id(arn)
                .version_stage("AWSPENDING")
                .remove_from_version_id(&version)
                .send()
                .await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_rewritten_host_never_receives_an_honest_password() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    // The attacker's own password for the server they point the secret at.
    let theirs = unique("attacker");
    let evil = EvilPostgres::start(&theirs).await?;
    // The worst case: a deployment that allows plaintext, so the fake server can ask for each
    // password in clear text and receives whatever the function sends.
    let lax = PostgresOptions {
        min_sslmode: SslMode::Disable,
        ..PostgresOptions::default()
    };
    let f = rotator(client.clone(), lax.clone());
    let redirect = |v: &Value| {
        let mut v = v.clone();
        v["host"] = json!("127.0.0.1");
        v["port"] = json!(evil.port);
        v["password"] = json!(theirs);
        v["sslmode"] = json!("disable");
        v
    };
    let user = unique("app");
    let honest = unique("honest");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{honest}'"),
    )
    .await?;

    // Single user: AWSCURRENT rewritten to the attacker's server, AWSPREVIOUS honest. The
    // attacker's server refuses the proof, and the honest AWSPREVIOUS is never tried there.
    let mut value = secret_for(stack, &user, &honest, json!({"sslmode": "disable"}));
    value["username"] = json!(user);
    let arn = create_secret(&client, "macro-ai/dev/database", &value).await?;
    let mut hostile = redirect(&value);
    hostile["password"] = json!(unique("not-theirs-either"));
    put_current(&client, &arn, &hostile).await?;
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&f, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "LoginRefused", "{message}");
    assert!(
        !evil.received().contains(&honest),
        "AWSPREVIOUS's password went to the attacker"
    );

    // Alternating users with an RDS-managed master (no host in it), unpinned: the proof passes on
    // the attacker's server, and the master's password must still never go there.
    let managed = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(&client, &unique("rds!cluster-x"), &managed).await?;
    let f = rotator(client.clone(), with_master(lax.clone(), &master_arn));
    let value = secret_for(
        stack,
        &user,
        &honest,
        json!({"sslmode": "disable", "masterarn": master_arn}),
    );
    let arn = create_secret(&client, &unique("macro-ai/dev/database"), &value).await?;
    put_current(&client, &arn, &redirect(&value)).await?;
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&f, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "RotationRefused", "{message}");
    assert!(message.contains("PG_HOST"), "{message}");
    assert!(
        evil.received().contains(&theirs),
        "the proof did reach the attacker's server"
    );

    // Pinned to the real database (PG_HOST/PG_PORT): refused before any login at all.
    let before = evil.received().len();
    let pinned_f = rotator(
        client.clone(),
        PostgresOptions {
            pinned: Some((stack.pg_host.clone(), stack.pg_port)),
            ..with_master(lax, &master_arn)
        },
    );
    clear_pending(&client, &arn).await?;
    let token = start_rotation(&client, &arn).await?;
    let (error_type, message) = steps_until_failure(&pinned_f, &arn, &token)
        .await
        .expect("refused");
    assert_eq!(error_type, "RotationRefused", "{message}");
    assert!(message.contains("refused before any login"), "{message}");
    assert_eq!(
        evil.received().len(),
        before,
        "nothing sent to the attacker's server"
    );

    let received = evil.received();
    assert!(
        !received
            .iter()
            .any(|p| p == stack.pg_admin_password() || *p == honest),
        "no honest credential reached the attacker's server"
    );
    assert!(stack.pg_admin().await.is_ok());
    assert_never_shown(&[stack.pg_admin_password(), &honest], &[&message]);
    Ok(())
}

#[tokio::test]
async fn objects_planted_in_the_database_never_run_as_the_master() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let db = unique("planted");
    let marker = unique("hijacked");
    let user = unique("app");
    let initial = unique("initial");
    admin_sql(
        stack,
        &format!("CREATE ROLE {user} LOGIN PASSWORD '{initial}'"),
    )
    .await?;
    admin_sql(stack, &format!("CREATE DATABASE {db} OWNER {user}")).await?;
    // What a database owner can do: a better-matching pg_has_role and a pg_roles that hides every
    // role, first on the database's search_path.
    let mut owner = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host(&stack.pg_host)
        .port(stack.pg_port)
        .username(&stack.pg_admin_user)
        .password(stack.pg_admin_password())
        .database(&db)
        .connect()
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION public.pg_has_role(text, oid, text) RETURNS boolean LANGUAGE plpgsql \
           AS $f$ BEGIN EXECUTE 'CREATE ROLE {marker}'; \
                  RETURN pg_catalog.pg_has_role($1::name, $2, $3); END $f$; \
         CREATE VIEW public.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE false; \
         ALTER DATABASE {db} SET search_path = public, pg_catalog"
    )))
    .execute(&mut owner)
    .await?;
    owner.close().await?;
    let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password()});
    let master_arn = create_secret(&client, "macro-ai/dev/database-master", &master).await?;
    let f = rotator(client.clone(), with_master(pinned(stack), &master_arn));
    let value = secret_for(
        stack,
        &user,
        &initial,
        json!({"dbname": db, "masterarn": master_arn}),
    );
    let arn = create_secret(&client, "macro-ai/dev/database", &value).await?;
    rotate(&f, &client, &arn).await?;
    rotate(&f, &client, &arn).await?;
    assert!(
        !role_exists(stack, &marker).await?,
        "the planted function ran as the master"
    );
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert_eq!(current["username"], json!(user));
    assert_never_shown(
        &[&initial, password(&current), stack.pg_admin_password()],
        &[],
    );
    Ok(())
}

/// A TLS login sends its small writes at once (`TCP_NODELAY`). Without it the client holds back
/// the end of the handshake and the startup message until the server acknowledges what came
/// before, which the server delays by up to 40 ms: sqlx 0.9.0 left it off and a full rotation
/// over TLS took three times the plaintext one (issue 22; `scripts/bench` measures both). The
/// function connects with `PgConnectOptions::connect`, as `pg_connect_tls` does here.
#[tokio::test]
async fn a_tls_login_sends_without_delay() -> Result<()> {
    let stack = Stack::get();
    let conn = stack
        .pg_connect_tls(&stack.pg_admin_user, stack.pg_admin_password())
        .await?;
    // Other tests of this binary may hold connections too: every one is made by sqlx.
    let sockets = tests::sockets::nodelay_to(stack.pg_port)?;
    drop(conn);
    assert!(!sockets.is_empty(), "the connection's socket is listed");
    assert!(
        sockets.iter().all(|nodelay| *nodelay),
        "a PostgreSQL socket without TCP_NODELAY: {sockets:?}"
    );
    Ok(())
}
