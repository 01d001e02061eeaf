//! rotate-redis where production differs from the local default: URLs read by strict decoders,
//! persistence that a failed save or a restart cannot undo, least-privilege users, TLS with a
//! private CA, and secrets rewritten by someone who may only `PutSecretValue`.

use anyhow::Result;
use serde_json::{Value, json};
use shared::redis::RedisOptions;
use shared::rotation::PasswordPolicy;
use tests::invoke;
use tests::redis::{
    ADMIN_SECRET, PrivateRedis, Users, create_user, logs_in, password_count, self_managed,
};
use tests::rotation::{
    create_secret, outcome, put_current, rotate, stages, start_rotation, step_event,
    steps_until_failure, value_at,
};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

fn rotator(
    client: aws_sdk_secretsmanager::Client,
    passwords: PasswordPolicy,
    redis: RedisOptions,
) -> Result<rotate_redis::RedisRotator> {
    Ok(rotate_redis::rotator(
        client,
        None,
        rotate_redis::Config {
            passwords,
            redis,
            watch: Default::default(),
        },
    )?)
}

/// The function as deployed for a self-managed Redis, with the default password policy.
fn default_rotator(client: &aws_sdk_secretsmanager::Client) -> Result<rotate_redis::RedisRotator> {
    rotator(client.clone(), PasswordPolicy::default(), self_managed())
}

/// The admin secret of the stack's Redis.
async fn stack_admin_secret(
    client: &aws_sdk_secretsmanager::Client,
    stack: &Stack,
) -> Result<String> {
    admin_secret(
        client,
        &stack.redis_host,
        stack.redis_port,
        stack.redis_admin_password(),
    )
    .await
}

/// The user and password a strict client reads from the secret's URL.
fn strict_login(v: &Value) -> Option<(String, String)> {
    let url = url::Url::parse(v["url"].as_str()?).ok()?;
    Some((
        shared::fakes::decode_uri_component(url.username())?,
        shared::fakes::decode_uri_component(url.password()?)?,
    ))
}

async fn admin_secret(
    client: &aws_sdk_secretsmanager::Client,
    host: &str,
    port: u16,
    password: &str,
) -> Result<String> {
    admin_secret_named(client, ADMIN_SECRET, host, port, password).await
}

async fn admin_secret_named(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    host: &str,
    port: u16,
    password: &str,
) -> Result<String> {
    create_secret(
        client,
        name,
        &json!({"username": "admin", "password": password, "host": host, "port": port}),
    )
    .await
}

#[tokio::test]
async fn url_passwords_read_back_exactly_with_a_strict_decoder() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    // Every character GetRandomPassword can return, long: `%` appears in nearly every password.
    let f = rotator(
        client.clone(),
        PasswordPolicy {
            length: 128,
            exclude_characters: String::new(),
        },
        self_managed(),
    )?;
    let admin_arn = stack_admin_secret(&client, stack).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let url = format!(
        "redis://{user}:{initial}@{}:{}/0",
        stack.redis_host, stack.redis_port
    );
    let arn = create_secret(
        &client,
        "macro-ai/dev/redis-credentials",
        &json!({"url": url, "adminarn": admin_arn}),
    )
    .await?;
    let mut seen = vec![initial.clone()];
    let mut percent = 0;
    for _ in 0..3 {
        rotate(&f, &client, &arn).await?;
        let current = value_at(&client, &arn, "AWSCURRENT").await?;
        let (u, p) = strict_login(&current).expect("a strict decoder reads the URL");
        assert_eq!(u, user);
        assert!(
            stack.redis_logs_in(&u, &p).await?,
            "the decoded password is the one Redis accepts"
        );
        percent += usize::from(p.contains('%'));
        seen.push(p);
    }
    println!("{percent} of 3 rotated passwords contained `%`");
    let shown: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_never_shown(&shown, &[]);
    Ok(())
}

#[tokio::test]
async fn a_failed_acl_save_is_finished_by_the_retry_and_survives_a_restart() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let mut redis = PrivateRedis::start()?;
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let admin_arn = admin_secret(&client, "127.0.0.1", redis.port, &redis.admin_password).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    let mut admin = redis.admin().await?;
    create_user(&mut admin, &user, &initial).await?;
    admin.query(redis::cmd("ACL").arg("SAVE")).await?;
    let secret = json!({"username": user, "password": initial, "host": "127.0.0.1",
                        "port": redis.port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&f, step_event("createSecret", &arn, &token)).await),
        "created"
    );

    // The ACL file's directory disappears: ACL SETUSER works, ACL SAVE cannot write.
    let acl_before = std::fs::read_to_string(redis.dir().join("users.acl"))?;
    std::fs::remove_dir_all(redis.dir())?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r
        .as_ref()
        .expect_err("setSecret must fail when the save fails");
    assert!(e.message().contains("ACL SAVE failed"), "{}", e.message());
    // The directory is back (with the file as it was before the change), and the retry sees the
    // pending password working: it must save all the same.
    redis.write_files()?;
    std::fs::write(redis.dir().join("users.acl"), acl_before)?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    assert_eq!(outcome(&r), "alreadySet");
    redis.stop()?;
    redis.resume()?;
    let pending = value_at(&client, &arn, "AWSPENDING").await?;
    let pending_password = pending["password"].as_str().unwrap_or_default();
    assert!(
        logs_in("127.0.0.1", redis.port, &user, pending_password).await?,
        "the pending password survived the restart"
    );
    for step in ["testSecret", "finishSecret"] {
        let r = invoke(&f, step_event(step, &arn, &token)).await;
        assert!(r.is_ok(), "{step}: {}", outcome(&r));
    }
    assert_never_shown(&[&initial, pending_password], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn users_in_redis_conf_are_persisted_and_a_server_that_cannot_persist_is_refused()
-> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;

    // Users in redis.conf: CONFIG REWRITE keeps them across a restart, two rotations deep.
    let mut redis = PrivateRedis::start_with(Users::ConfigFile)?;
    let admin_arn = admin_secret(&client, "127.0.0.1", redis.port, &redis.admin_password).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut redis.admin().await?, &user, &initial).await?;
    let secret = json!({"username": user, "password": initial, "host": "127.0.0.1",
                        "port": redis.port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    rotate(&f, &client, &arn).await?;
    rotate(&f, &client, &arn).await?;
    redis.stop()?;
    redis.resume()?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let previous = value_at(&client, &arn, "AWSPREVIOUS").await?;
    let pw = |v: &Value| v["password"].as_str().unwrap_or_default().to_string();
    assert!(logs_in("127.0.0.1", redis.port, &user, &pw(&current)).await?);
    assert!(logs_in("127.0.0.1", redis.port, &user, &pw(&previous)).await?);
    assert!(!logs_in("127.0.0.1", redis.port, &user, &initial).await?);
    let conf = std::fs::read_to_string(redis.dir().join("redis.conf"))?;
    assert!(
        conf.contains(&format!("user {user} ")),
        "CONFIG REWRITE wrote the user"
    );

    // No ACL file and no config file: refused at setSecret, not silently lost at the next restart.
    let bare = PrivateRedis::start_with(Users::Nowhere)?;
    let bare_admin = "macro-ai/dev/redis-admin-bare";
    let admin_arn = admin_secret_named(
        &client,
        bare_admin,
        "127.0.0.1",
        bare.port,
        &bare.admin_password,
    )
    .await?;
    let f = rotator(
        client.clone(),
        PasswordPolicy::default(),
        RedisOptions {
            admin_secret_arn: Some(bare_admin.to_string()),
            ..RedisOptions::default()
        },
    )?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut bare.admin().await?, &user, &initial).await?;
    let secret = json!({"username": user, "password": initial, "host": "127.0.0.1",
                        "port": bare.port, "adminarn": admin_arn});
    let arn = create_secret(&client, &unique("macro-ai/dev/redis-credentials"), &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("nothing can persist the change");
    assert_eq!(e.error_type(), "BackendError");
    assert!(
        e.message().contains("configure `aclfile`"),
        "{}",
        e.message()
    );
    assert_never_shown(&[&initial, &pw(&current), &pw(&previous)], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn a_least_privilege_user_without_ping_completes_a_rotation() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let admin_arn = stack_admin_secret(&client, stack).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    let pass = format!(">{initial}");
    stack
        .redis_admin()
        .await?
        .query(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(user.as_bytes())
                .arg("on")
                .arg(pass.as_bytes())
                .arg("~chat:*")
                .arg("+get")
                .arg("+set"),
        )
        .await?;
    let secret = json!({"username": user, "password": initial, "host": stack.redis_host,
                        "port": stack.redis_port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    rotate(&f, &client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&f, json!({"validate": arn})).await),
        "valid"
    );
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let mut conn = shared::redis::connection::RedisConnection::connect(
        &stack.redis_host,
        stack.redis_port,
        None,
        std::time::Duration::from_secs(5),
    )
    .await?;
    let password = current["password"].as_str().unwrap_or_default();
    conn.auth(&user, password).await?;
    let ping = conn.query(&redis::cmd("PING")).await;
    assert!(
        matches!(&ping, Err(e) if e.code() == Some("NOPERM")),
        "the user really has no +ping"
    );
    assert_never_shown(&[&initial, password], &[]);
    Ok(())
}

#[tokio::test]
async fn rediss_with_a_private_ca_rotates_and_a_wrong_ca_is_refused_without_plaintext() -> Result<()>
{
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let with_ca = |ca: &std::path::Path| RedisOptions {
        tls_ca_file: Some(ca.to_path_buf()),
        ..self_managed()
    };
    let f = rotator(
        client.clone(),
        PasswordPolicy::default(),
        with_ca(&stack.tls_ca),
    )?;
    let wrong = rotator(
        client.clone(),
        PasswordPolicy::default(),
        with_ca(&stack.tls_wrong_ca),
    )?;
    let admin = format!(
        "rediss://admin:{}@localhost:{}",
        stack.redis_admin_password(),
        stack.redis_tls_port
    );
    let admin_arn = create_secret(&client, ADMIN_SECRET, &json!({"url": admin})).await?;
    let plaintext_attempts = || -> Result<usize> {
        Ok(std::fs::read_to_string(&stack.redis_log)?
            .matches("wrong version number")
            .count())
    };
    let before = plaintext_attempts()?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let url = format!(
        "rediss://{user}:{initial}@localhost:{}/0",
        stack.redis_tls_port
    );
    let arn = create_secret(
        &client,
        "macro-ai/dev/redis-credentials",
        &json!({"url": url, "adminarn": admin_arn}),
    )
    .await?;
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    assert!(
        current["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rediss://")
    );
    let (_, password) = strict_login(&current).expect("decodable");
    assert!(stack.redis_logs_in(&user, &password).await?);

    // The wrong CA: the handshake fails, typed, and nothing is tried without TLS.
    let token = start_rotation(&client, &arn).await?;
    assert_eq!(
        outcome(&invoke(&wrong, step_event("createSecret", &arn, &token)).await),
        "created"
    );
    let r = invoke(&wrong, step_event("setSecret", &arn, &token)).await;
    let e = r
        .as_ref()
        .expect_err("an untrusted certificate must be refused");
    assert_eq!(e.error_type(), "BackendError", "{}", e.message());
    assert!(e.message().contains("TLS"), "{}", e.message());
    assert_eq!(
        plaintext_attempts()?,
        before,
        "no plaintext connection to the TLS port"
    );
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        2
    );
    assert_never_shown(&[&initial, &password], &[e.message()]);
    Ok(())
}

#[tokio::test]
async fn a_rewritten_username_never_gets_the_admin_to_act() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let admin_arn = stack_admin_secret(&client, stack).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let (victim, victim_password) = (unique("victim"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &victim, &victim_password).await?;
    let honest = json!({"username": user, "password": initial, "host": stack.redis_host,
                        "port": stack.redis_port, "adminarn": admin_arn});
    // Someone with PutSecretValue only names the admin's user, or another app's user, with a
    // password they do not know: the admin's own user is refused outright, another user fails the
    // proof before the admin acts. And a secret that really
    // holds the admin's own login is refused outright.
    for (name, target, password, expect) in [
        (
            "admin",
            stack.redis_admin_user.clone(),
            unique("guess"),
            "RotationRefused",
        ),
        (
            "another user",
            victim.clone(),
            unique("guess"),
            "LoginRefused",
        ),
        (
            "the admin's own login",
            stack.redis_admin_user.clone(),
            stack.redis_admin_password().to_string(),
            "RotationRefused",
        ),
    ] {
        let arn =
            create_secret(&client, &unique("macro-ai/dev/redis-credentials"), &honest).await?;
        let mut rewritten = honest.clone();
        rewritten["username"] = json!(target);
        rewritten["password"] = json!(password);
        put_current(&client, &arn, &rewritten).await?;
        let token = start_rotation(&client, &arn).await?;
        let (error_type, message) = steps_until_failure(&f, &arn, &token)
            .await
            .expect("refused");
        assert_eq!(error_type, expect, "{name}: {message}");
        assert_eq!(
            stages(&client, &arn).await?[&token],
            vec!["AWSPENDING".to_string()]
        );
    }
    // Nothing was added to either user.
    let mut admin = stack.redis_admin().await?;
    assert_eq!(password_count(&mut admin, &victim).await?, 1);
    assert_eq!(
        password_count(&mut admin, &stack.redis_admin_user).await?,
        1
    );
    assert!(stack.redis_logs_in(&victim, &victim_password).await?);
    assert_never_shown(
        &[&initial, &victim_password, stack.redis_admin_password()],
        &[],
    );
    Ok(())
}

#[tokio::test]
async fn a_primary_with_replicas_is_refused_until_the_admin_secret_lists_every_node() -> Result<()>
{
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let primary = PrivateRedis::start()?;
    let replica = PrivateRedis::start_replica_of(&primary)?;
    // Wait until the primary counts its replica.
    let mut admin = primary.admin().await?;
    for _ in 0..100 {
        let info = admin.query(redis::cmd("INFO").arg("replication")).await?;
        if shared::redis::connection::text(&info).is_some_and(|t| t.contains("connected_slaves:1"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let admin_arn =
        admin_secret(&client, "127.0.0.1", primary.port, &primary.admin_password).await?;
    // ACL users are not replicated: the user is made on each node, as an operator would.
    let (user, initial) = (unique("app"), unique("initial"));
    let mut replica_admin = replica.admin().await?;
    create_user(&mut admin, &user, &initial).await?;
    // The replica's ACL drifted: its user has another password than the primary's.
    create_user(&mut replica_admin, &user, "drifted-password").await?;
    let secret = json!({"username": user, "password": initial, "host": "127.0.0.1",
                        "port": primary.port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r
        .as_ref()
        .expect_err("a primary with an unlisted replica is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(
        e.message().contains("1 connected replica"),
        "{}",
        e.message()
    );
    assert_eq!(password_count(&mut admin, &user).await?, 1, "nothing added");
    assert_eq!(password_count(&mut replica_admin, &user).await?, 1);
    let mut messages = vec![e.message().to_string()];

    // The application secret cannot list nodes: the admin login would go wherever it said.
    let evil = json!({"username": user, "password": initial, "host": "127.0.0.1",
                      "port": primary.port, "adminarn": admin_arn,
                      "nodes": [format!("127.0.0.1:{}", stack.redis_port)]});
    let evil_arn = create_secret(&client, &unique("macro-ai/dev/redis"), &evil).await?;
    let evil_token = start_rotation(&client, &evil_arn).await?;
    invoke(&f, step_event("createSecret", &evil_arn, &evil_token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let r = invoke(&f, step_event("setSecret", &evil_arn, &evil_token)).await;
    let e = r.expect_err("`nodes` in an application secret is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(e.message().contains("admin secret"), "{}", e.message());
    messages.push(e.message().to_string());

    // The admin secret lists the replica: every step now covers both nodes.
    put_current(
        &client,
        &admin_arn,
        &json!({"username": "admin", "password": primary.admin_password, "host": "127.0.0.1",
                "port": primary.port, "nodes": [format!("127.0.0.1:{}", replica.port)]}),
    )
    .await?;
    // A node whose user lacks the proven password would lose it the moment `>pending` is added:
    // nothing is changed on any node.
    let e = invoke(&f, step_event("setSecret", &arn, &token))
        .await
        .expect_err("a node without the proven password is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(
        e.message().contains(&replica.port.to_string()),
        "{}",
        e.message()
    );
    assert_eq!(password_count(&mut admin, &user).await?, 1, "nothing added");
    assert_eq!(password_count(&mut replica_admin, &user).await?, 1);
    messages.push(e.message().to_string());
    // The operator fixes the replica's ACL; the retried step goes through on both nodes.
    create_user(&mut replica_admin, &user, &initial).await?;
    for step in ["setSecret", "testSecret", "finishSecret"] {
        invoke(&f, step_event(step, &arn, &token))
            .await
            .map_err(|e| anyhow::anyhow!("{step}: {}", e.message()))?;
    }
    let new = value_at(&client, &arn, "AWSCURRENT").await?;
    let new = new["password"].as_str().unwrap_or_default().to_string();
    assert_ne!(new, initial);
    for (node, conn) in [
        (primary.port, &mut admin),
        (replica.port, &mut replica_admin),
    ] {
        assert!(logs_in("127.0.0.1", node, &user, &new).await?, "{node}");
        assert!(
            logs_in("127.0.0.1", node, &user, &initial).await?,
            "{node}: AWSPREVIOUS kept"
        );
        // The drifted password was older than AWSPREVIOUS: removed.
        assert_eq!(password_count(conn, &user).await?, 2, "{node}");
    }
    // A second rotation removes the first password from both nodes.
    rotate(&f, &client, &arn).await?;
    for node in [primary.port, replica.port] {
        assert!(
            !logs_in("127.0.0.1", node, &user, &initial).await?,
            "{node}"
        );
        assert!(logs_in("127.0.0.1", node, &user, &new).await?, "{node}");
    }
    assert_never_shown(
        &[&initial, &new],
        &messages.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    Ok(())
}

#[tokio::test]
async fn a_nopass_user_proves_nothing() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let admin_arn = stack_admin_secret(&client, stack).await?;
    // A user that lets any password in: AUTH with a made-up one succeeds.
    let user = unique("open");
    stack
        .redis_admin()
        .await?
        .query(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(user.as_bytes())
                .arg("on")
                .arg("nopass")
                .arg("~*")
                .arg("+@all"),
        )
        .await?;
    let secret = json!({"username": user, "password": "made-up-by-anyone", "host": stack.redis_host,
                        "port": stack.redis_port, "adminarn": admin_arn});
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &secret).await?;
    let token = start_rotation(&client, &arn).await?;
    invoke(&f, step_event("createSecret", &arn, &token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let r = invoke(&f, step_event("setSecret", &arn, &token)).await;
    let e = r.as_ref().expect_err("a nopass user is refused");
    assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
    assert!(e.message().contains("nopass"), "{}", e.message());
    assert!(
        stack.redis_logs_in(&user, "anything-at-all").await?,
        "the user is left as it was (still nopass)"
    );
    Ok(())
}

/// AWSCURRENT refused, AWSPREVIOUS live (a restore, or a rewritten AWSCURRENT): the rotation
/// proves itself with AWSPREVIOUS, and finishSecret must not remove that live password.
#[tokio::test]
async fn after_a_restore_the_live_password_survives_the_rotation() -> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let f = default_rotator(&client)?;
    let admin_arn = stack_admin_secret(&client, stack).await?;
    let (user, live) = (unique("app"), unique("live"));
    create_user(&mut stack.redis_admin().await?, &user, &live).await?;
    let value = |p: &str| {
        json!({"username": user, "password": p, "host": stack.redis_host,
               "port": stack.redis_port, "adminarn": admin_arn})
    };
    let arn = create_secret(&client, "macro-ai/dev/redis-credentials", &value(&live)).await?;
    put_current(&client, &arn, &value(&unique("refused"))).await?;
    rotate(&f, &client, &arn).await?;
    let current = value_at(&client, &arn, "AWSCURRENT").await?;
    let new = current["password"].as_str().unwrap_or_default();
    assert!(stack.redis_logs_in(&user, new).await?);
    assert!(
        stack.redis_logs_in(&user, &live).await?,
        "the password clients still use was removed at finishSecret"
    );
    // The next rotation cleans up normally.
    rotate(&f, &client, &arn).await?;
    assert!(!stack.redis_logs_in(&user, &live).await?);
    assert_never_shown(&[&live, new], &[]);
    Ok(())
}

#[tokio::test]
async fn adminarn_may_name_only_the_configured_admin_secret_and_never_the_secret_itself()
-> Result<()> {
    capture_logs();
    let stack = Stack::get();
    let client = stack.secrets_manager(&MotoAccount::new());
    let admin_arn = stack_admin_secret(&client, stack).await?;
    let (user, initial) = (unique("app"), unique("initial"));
    create_user(&mut stack.redis_admin().await?, &user, &initial).await?;
    let secret = json!({"username": user, "password": initial, "host": stack.redis_host,
                        "port": stack.redis_port, "adminarn": admin_arn});
    // Another admin secret, of the same server, that the function may be configured with.
    let other = admin_secret_named(
        &client,
        "macro-ai/dev/redis-admin-other",
        &stack.redis_host,
        stack.redis_port,
        stack.redis_admin_password(),
    )
    .await?;
    let name = "macro-ai/dev/redis-credentials";
    let arn = create_secret(&client, name, &secret).await?;
    // The ARN without its six random characters: Secrets Manager resolves it to the same secret.
    let partial = arn
        .rsplit_once('-')
        .map(|(head, _)| head.to_string())
        .expect("-XXXXXX");
    let pinned_to = |admin: Option<&str>| {
        rotator(
            client.clone(),
            PasswordPolicy::default(),
            RedisOptions {
                admin_secret_arn: admin.map(str::to_string),
                ..RedisOptions::default()
            },
        )
    };
    let cases = [
        // Configured with another admin secret: this one's `adminarn` is refused before any login.
        (pinned_to(Some(&other))?, None, "not the admin secret"),
        // Not configured at all: no self-managed rotation, whatever `adminarn` says.
        (pinned_to(None)?, None, "REDIS_ADMIN_SECRET_ARN is not set"),
        // A pin that names the rotated secret (by name), and `adminarn` rewritten to name it by
        // partial ARN: the strings differ, the secrets do not.
        (
            pinned_to(Some(name))?,
            Some(partial.clone()),
            "the secret being rotated",
        ),
        (
            pinned_to(Some(&arn))?,
            Some(name.to_string()),
            "the secret being rotated",
        ),
    ];
    let mut messages = Vec::new();
    for (f, adminarn, why) in &cases {
        if let Some(adminarn) = adminarn {
            let mut own = secret.clone();
            own["adminarn"] = json!(adminarn);
            put_current(&client, &arn, &own).await?;
        }
        let token = start_rotation(&client, &arn).await?;
        invoke(f, step_event("createSecret", &arn, &token))
            .await
            .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
        let e = invoke(f, step_event("setSecret", &arn, &token))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type(), "RotationRefused", "{}", e.message());
        assert!(e.message().contains(why), "{}", e.message());
        messages.push(e.message().to_string());
        // Nothing was added.
        assert_eq!(
            password_count(&mut stack.redis_admin().await?, &user).await?,
            1
        );
    }
    // The admin secret named by its name while the pin holds its ARN: the same secret, accepted.
    let mut by_name = secret.clone();
    by_name["adminarn"] = json!(ADMIN_SECRET);
    put_current(&client, &arn, &by_name).await?;
    rotate(&pinned_to(Some(&admin_arn))?, &client, &arn).await?;
    assert_eq!(
        password_count(&mut stack.redis_admin().await?, &user).await?,
        2,
        "the new password added beside the old"
    );
    assert_never_shown(
        &[&initial],
        &messages.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    Ok(())
}

/// The function's Redis connection sends its small writes at once (`TCP_NODELAY`), over TLS as
/// in plaintext: no write waits for the server's delayed acknowledgement of the one before.
#[tokio::test]
async fn a_tls_login_sends_without_delay() -> Result<()> {
    use shared::redis::connection::{RedisConnection, TlsSettings};
    let stack = Stack::get();
    let tls = TlsSettings::new(Some(&stack.tls_ca))?;
    let mut conn = RedisConnection::connect(
        "localhost",
        stack.redis_tls_port,
        Some(&tls),
        std::time::Duration::from_secs(5),
    )
    .await?;
    conn.auth(&stack.redis_admin_user, stack.redis_admin_password())
        .await?;
    // Other tests of this binary may hold connections too: every one is a `RedisConnection`.
    let sockets = tests::sockets::nodelay_to(stack.redis_tls_port)?;
    drop(conn);
    assert!(!sockets.is_empty(), "the connection's socket is listed");
    assert!(
        sockets.iter().all(|nodelay| *nodelay),
        "a Redis socket without TCP_NODELAY: {sockets:?}"
    );
    Ok(())
}
