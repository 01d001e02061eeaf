//! A rotation reaches the running app (issue 21), end to end: moto (Secrets Manager, ECS,
//! DynamoDB, SNS) through the real SDK clients, the stack's PostgreSQL and Redis checking every
//! password, and Macro AI's API emulated as ECS runs it (`tests::app`): tasks that read their
//! secrets once, when they start, replaced by a rolling deployment whenever the service gets one.
//!
//! What moto does not do, and these tests rely on: it replaces a service's deployment in place
//! (no ACTIVE deployment drains), so the emulated rollout runs before a rotation is retried; the
//! draining case is `shared::consumers::scenarios` on the fake. moto keeps a deployment's
//! `desiredCount` from creation; the functions read the service's.

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use shared::aws::ecs_consumers::EcsConsumers;
use shared::aws::secrets_manager::SecretsManagerStore;
use shared::aws::sns::SnsNotifier;
use shared::consumers::Watch;
use tests::app::{App, Task};
use tests::ecs::Aws;
use tests::invoke;
use tests::redis::create_user;
use tests::rotation::{
    STEPS, create_secret, outcome, stages, start_rotation, step_event, value_at,
};
use tests::{MotoAccount, Stack, assert_never_shown, capture_logs, unique};

const CLUSTER: &str = "macro-ai-dev-cluster";
const API: &str = "macro-ai-dev-api-service";

type Refresh = shared::consumers::Refresher<
    SecretsManagerStore,
    EcsConsumers,
    shared::aws::dynamodb::DynamoNotificationLedger,
    SnsNotifier,
>;

/// One test's Macro AI: its own moto account (cluster, secrets, ledger, topic), its own
/// PostgreSQL roles (alternating users) and Redis user, and the API's task definition injecting
/// both secrets as the seed's does (`RELATIONAL_DATABASE_URL`: the whole database secret;
/// `REDIS_URL`: the `url` key of the Redis secret).
struct World {
    stack: &'static Stack,
    sm: aws_sdk_secretsmanager::Client,
    aws: Aws,
    db: String,
    redis: String,
    master: String,
    queue: String,
    topic: String,
    refresh: Refresh,
}

impl World {
    async fn new() -> Result<Self> {
        capture_logs();
        let stack = Stack::get();
        let account = MotoAccount::new();
        let sm = stack.secrets_manager(&account);
        let aws = stack.aws(&account);
        aws.cluster(CLUSTER).await?;
        // PostgreSQL: an app role and the master secret that alternates it.
        let user = unique("app");
        let password = unique("initial");
        let mut admin = stack.pg_admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
        )))
        .execute(&mut admin)
        .await?;
        let master = json!({"username": stack.pg_admin_user, "password": stack.pg_admin_password(),
                            "engine": "postgres", "host": stack.pg_host, "port": stack.pg_port,
                            "dbname": "postgres", "sslmode": "disable"});
        let master = create_secret(&sm, "macro-ai/dev/database-master", &master).await?;
        let db = create_secret(
            &sm,
            "macro-ai/dev/database",
            &json!({"username": user, "password": password, "engine": "postgres",
                    "host": stack.pg_host, "port": stack.pg_port, "dbname": "postgres",
                    "sslmode": "disable", "masterarn": master}),
        )
        .await?;
        // Redis: a user of its own, rotated through the admin login.
        let ruser = unique("macro_ai_app");
        let rpass = unique("initial");
        create_user(&mut stack.redis_admin().await?, &ruser, &rpass).await?;
        let admin = create_secret(
            &sm,
            tests::redis::ADMIN_SECRET,
            &json!({"username": stack.redis_admin_user, "password": stack.redis_admin_password(),
                    "host": stack.redis_host, "port": stack.redis_port}),
        )
        .await?;
        let redis = create_secret(
            &sm,
            "macro-ai/dev/redis",
            &json!({"url": format!("redis://{ruser}:{rpass}@{}:{}/0", stack.redis_host, stack.redis_port),
                    "adminarn": admin}),
        )
        .await?;
        let td = aws
            .task_definition_with_secrets(
                "macro-ai-dev-api",
                &[
                    ("RELATIONAL_DATABASE_URL", &db),
                    ("REDIS_URL", &format!("{redis}:url::")),
                ],
            )
            .await?;
        aws.service(CLUSTER, &td, API, 3, &[], Some((1, 4))).await?;
        let table = unique("refreshes");
        aws.ledger_table(&table).await?;
        let (topic, queue) = aws.topic_with_queue(&unique("notifications")).await?;
        let refresh = refresh_consumers::refresher_over(
            SecretsManagerStore::new(sm.clone()),
            EcsConsumers::new(aws.ecs.clone()),
            aws.dynamodb.clone(),
            aws.sns.clone(),
            refresh_consumers::Config::from_lookup(|k| match k {
                "CONSUMER_CLUSTERS" => Some(CLUSTER.into()),
                "REFRESH_TABLE" => Some(table.clone()),
                "SECRET_NAME_PREFIX" => Some("macro-ai/dev/".into()),
                "NOTIFY_TOPIC_ARN" => Some(topic.clone()),
                "DEDUPE_WAIT_SECONDS" => Some("10".into()),
                _ => None,
            })?,
        );
        Ok(Self {
            stack,
            sm,
            aws,
            db,
            redis,
            master,
            queue,
            topic,
            refresh,
        })
    }

    fn watch(&self) -> Option<Watch<EcsConsumers, SnsNotifier>> {
        Some(Watch {
            reader: EcsConsumers::new(self.aws.ecs.clone()),
            clusters: vec![CLUSTER.into()],
            notifier: SnsNotifier::new(self.aws.sns.clone(), Some(self.topic.clone())),
        })
    }

    fn postgres(
        &self,
        watched: bool,
    ) -> rotate_postgres::PostgresRotator<EcsConsumers, SnsNotifier> {
        let config = rotate_postgres::Config {
            postgres: shared::postgres::PostgresOptions {
                master_secret_arn: Some(self.master.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        rotate_postgres::rotator(self.sm.clone(), config).watching(if watched {
            self.watch()
        } else {
            None
        })
    }

    fn redis(
        &self,
        watched: bool,
    ) -> Result<rotate_redis::RedisRotator<EcsConsumers, SnsNotifier>> {
        Ok(rotate_redis::rotator(
            self.sm.clone(),
            None,
            rotate_redis::Config {
                redis: tests::redis::self_managed(),
                ..Default::default()
            },
        )?
        .watching(if watched { self.watch() } else { None }))
    }

    /// Secrets Manager's `Secret Label Updated` event for `version` of `arn` becoming
    /// AWSCURRENT: the documented example (events/aws-samples/secret-label-updated-doc.json)
    /// about this secret.
    async fn label_event(&self, arn: &str, version: &str) -> Result<Value> {
        let name = self
            .sm
            .describe_secret()
            .secret_id(arn)
            .send()
            .await?
            .name()
            .context("a name")?
            .to_string();
        let mut event = tests::sample("aws-samples/secret-label-updated-doc.json");
        event["resources"] = json!([arn]);
        event["detail"]["name"] = json!(name);
        event["detail"]["versionId"] = json!(version);
        event["time"] = json!(
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        );
        event["region"] = json!("us-east-1");
        Ok(event)
    }
}

/// Logins the probes made in this test process (for the figures the tests print).
static LOGINS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What the API's tasks do with what they read: log in to PostgreSQL and Redis. Each refused
/// login is a failure a user would see (the text names the task, never a value).
async fn probe(stack: &Stack, tasks: &[Task]) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    LOGINS.fetch_add(2 * tasks.len(), std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        let db: Value = serde_json::from_str(&task.env["RELATIONAL_DATABASE_URL"])?;
        let user = db["username"].as_str().unwrap_or_default();
        match stack
            .pg_connect(user, db["password"].as_str().unwrap_or_default())
            .await
        {
            Ok(c) => {
                use sqlx::Connection as _;
                c.close().await?;
            }
            Err(e) if tests::is_login_refused(&e) => {
                failures.push(format!(
                    "task {} ({}): PostgreSQL login refused",
                    task.id, task.deployment
                ));
            }
            Err(e) => bail!("PostgreSQL: {e}"),
        }
        let url = url::Url::parse(&task.env["REDIS_URL"])?;
        let password = percent_encoding::percent_decode_str(url.password().unwrap_or_default())
            .decode_utf8()?
            .into_owned();
        if !stack.redis_logs_in(url.username(), &password).await? {
            failures.push(format!(
                "task {} ({}): Redis login refused",
                task.id, task.deployment
            ));
        }
    }
    Ok(failures)
}

/// Runs a whole rotation of `arn`, probing the running tasks after every step; then, when
/// `deliver`, hands refresh-consumers the label event (twice at once, and once more: at-least-
/// once delivery) and rolls the API, probing after every task replaced. The failures seen.
async fn rotate_and_refresh<S, B, C, N>(
    w: &World,
    app: &mut App,
    rotator: &shared::rotation::Rotator<S, B, C, N>,
    arn: &str,
    deliver: bool,
) -> Result<Vec<String>>
where
    S: shared::rotation::SecretStore,
    B: shared::rotation::CredentialBackend,
    C: shared::consumers::ConsumerReader,
    N: shared::notify::Notifier,
{
    let mut failures = Vec::new();
    let token = start_rotation(&w.sm, arn).await?;
    for step in STEPS {
        let r = invoke(rotator, step_event(step, arn, &token)).await;
        if r.is_err() {
            bail!("{step}: {}", outcome(&r));
        }
        failures.extend(probe(w.stack, &app.tasks).await?);
    }
    if deliver {
        let event = w.label_event(arn, &token).await?;
        let (a, b) = tokio::join!(
            invoke(&w.refresh, event.clone()),
            invoke(&w.refresh, event.clone())
        );
        let again = invoke(&w.refresh, event).await;
        let outcomes: Vec<String> = [a, b, again]
            .iter()
            .map(|r| match r {
                Ok(v) => v["refreshes"][0]["outcome"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                Err(e) => format!("error {}: {}", e.error_type(), e.message()),
            })
            .collect();
        let refreshed = outcomes.iter().filter(|o| *o == "refreshed").count();
        let duplicates = outcomes.iter().filter(|o| *o == "duplicate").count();
        if (refreshed, duplicates) != (1, 2) {
            bail!("one refresh and two duplicates expected: {outcomes:?}");
        }
        while app.roll_one().await? {
            failures.extend(probe(w.stack, &app.tasks).await?);
        }
    }
    failures.extend(probe(w.stack, &app.tasks).await?);
    Ok(failures)
}

#[tokio::test]
async fn three_rounds_of_rotations_reach_every_task_and_no_login_fails() -> Result<()> {
    let w = World::new().await?;
    let (pg, redis) = (w.postgres(true), w.redis(true)?);
    let mut app = App::start(&w.aws, &w.sm, CLUSTER, API).await?;
    let mut failures = Vec::new();
    let mut rollouts = 0;
    for round in 1..=3 {
        for (which, arn) in [("postgres", &w.db), ("redis", &w.redis)] {
            let before = app.tasks.iter().map(|t| t.id).max();
            let seen = match which {
                "postgres" => rotate_and_refresh(&w, &mut app, &pg, arn, true).await,
                _ => rotate_and_refresh(&w, &mut app, &redis, arn, true).await,
            }
            .with_context(|| format!("round {round}, {which}"))?;
            failures.extend(
                seen.into_iter()
                    .map(|f| format!("round {round}, {which}: {f}")),
            );
            // Every task was replaced: each read the new value when it started.
            assert!(
                app.tasks.iter().all(|t| Some(t.id) > before),
                "round {round}, {which}"
            );
            rollouts += 1;
        }
    }
    println!(
        "{rollouts} rotations, each followed by a rolling deployment of 3 tasks: {} of {} logins failed",
        failures.len(),
        LOGINS.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // The refreshes were announced, naming the API.
    let notices = w.aws.notifications(&w.queue).await?;
    let refreshed: Vec<_> = notices
        .iter()
        .filter(|(subject, _)| subject.contains("refresh-consumers"))
        .collect();
    assert_eq!(refreshed.len(), 6, "{notices:?}");
    assert!(
        refreshed
            .iter()
            .all(|(_, m)| m.contains(&format!("{CLUSTER}/{API} redeployed")))
    );
    let secrets: Vec<String> = app
        .tasks
        .iter()
        .flat_map(|t| t.env.values().cloned())
        .collect();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_never_shown(&refs, &[]);
    Ok(())
}

#[tokio::test]
async fn without_the_refresh_tasks_that_read_their_secrets_once_are_locked_out() -> Result<()> {
    // The control: the suite as it was (no consumers watched, no refresh). Tasks started before
    // the first rotation still hold its AWSPREVIOUS at the second, which retires it.
    let w = World::new().await?;
    let (pg, redis) = (w.postgres(false), w.redis(false)?);
    let mut app = App::start(&w.aws, &w.sm, CLUSTER, API).await?;
    let mut failures = Vec::new();
    for round in 1..=3 {
        failures.extend(rotate_and_refresh(&w, &mut app, &pg, &w.db, false).await?);
        failures.extend(rotate_and_refresh(&w, &mut app, &redis, &w.redis, false).await?);
        if round == 1 {
            assert!(
                failures.is_empty(),
                "the overlap covers one rotation: {failures:?}"
            );
        }
    }
    println!(
        "control without refresh: {} of {} logins failed",
        failures.len(),
        LOGINS.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(
        failures.iter().any(|f| f.contains("PostgreSQL"))
            && failures.iter().any(|f| f.contains("Redis")),
        "{failures:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_lost_event_makes_the_next_rotation_wait_with_nothing_retired_until_a_manual_refresh()
-> Result<()> {
    let w = World::new().await?;
    let (pg, redis) = (w.postgres(true), w.redis(true)?);
    let mut app = App::start(&w.aws, &w.sm, CLUSTER, API).await?;
    // First rotations: nothing to retire yet. Their events are lost.
    assert!(
        rotate_and_refresh(&w, &mut app, &pg, &w.db, false)
            .await?
            .is_empty()
    );
    assert!(
        rotate_and_refresh(&w, &mut app, &redis, &w.redis, false)
            .await?
            .is_empty()
    );

    // PostgreSQL (alternating): setSecret would set the password of the user the tasks hold.
    let pg_token = start_rotation(&w.sm, &w.db).await?;
    invoke(&pg, step_event("createSecret", &w.db, &pg_token))
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    let e = invoke(&pg, step_event("setSecret", &w.db, &pg_token))
        .await
        .expect_err("waits");
    assert_eq!(e.error_type(), "ConsumersNotRefreshed", "{}", e.message());
    assert!(
        e.message().contains(&format!("{CLUSTER}/{API}")),
        "{}",
        e.message()
    );
    // Redis (self-managed): finishSecret would remove the password the tasks hold.
    let redis_token = start_rotation(&w.sm, &w.redis).await?;
    for step in ["createSecret", "setSecret", "testSecret"] {
        invoke(&redis, step_event(step, &w.redis, &redis_token))
            .await
            .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    }
    let e = invoke(&redis, step_event("finishSecret", &w.redis, &redis_token))
        .await
        .expect_err("waits");
    assert_eq!(e.error_type(), "ConsumersNotRefreshed", "{}", e.message());
    assert_eq!(
        stages(&w.sm, &w.redis).await?[&redis_token],
        vec!["AWSPENDING".to_string()],
        "not promoted"
    );
    // Nothing was retired: every task still logs in.
    assert!(probe(w.stack, &app.tasks).await?.is_empty());
    let notices = w.aws.notifications(&w.queue).await?;
    assert!(
        notices
            .iter()
            .filter(|(s, _)| s.contains("rotation waits for 1 service(s)"))
            .count()
            == 2,
        "{notices:?}"
    );

    // A refresh by hand, for each secret; the API rolls.
    for arn in [&w.db, &w.redis] {
        let r = invoke(&w.refresh, json!({"refresh": arn})).await;
        assert!(r.is_ok(), "{}", outcome(&r));
    }
    while app.roll_one().await? {
        assert!(probe(w.stack, &app.tasks).await?.is_empty());
    }
    // The same rotations, retried with their tokens as Secrets Manager retries them, complete.
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let r = invoke(&pg, step_event(step, &w.db, &pg_token)).await;
        assert!(r.is_ok(), "postgres {step}: {}", outcome(&r));
    }
    let r = invoke(&redis, step_event("finishSecret", &w.redis, &redis_token)).await;
    assert!(r.is_ok(), "redis finishSecret: {}", outcome(&r));
    assert!(probe(w.stack, &app.tasks).await?.is_empty());
    // And what they retired is gone: the first values no longer log in.
    let old_db = value_at(&w.sm, &w.db, "AWSPREVIOUS").await?;
    assert_ne!(
        old_db["username"],
        value_at(&w.sm, &w.db, "AWSCURRENT").await?["username"]
    );
    Ok(())
}

#[tokio::test]
async fn every_reference_form_is_refreshed_once_and_nothing_else_is_touched() -> Result<()> {
    let w = World::new().await?;
    let arn = &w.db;
    let name = "macro-ai/dev/database";
    let partial = arn
        .rsplit_once('-')
        .map(|(p, _)| p)
        .context("an ARN with a suffix")?;
    let version = stages(&w.sm, arn)
        .await?
        .into_keys()
        .next()
        .context("a version")?;
    // One service per reference form, and the ones a refresh must leave alone.
    let cases: Vec<(&str, Option<String>, i32, bool)> = vec![
        ("full-arn", Some(arn.to_string()), 2, true),
        ("json-key", Some(format!("{arn}:password::")), 1, true),
        (
            "stage-current",
            Some(format!("{arn}:url:AWSCURRENT:")),
            1,
            true,
        ),
        (
            "partial-arn",
            Some(format!("{partial}:username::")),
            1,
            true,
        ),
        ("name", Some(name.to_string()), 1, true),
        ("at-zero", Some(arn.to_string()), 0, false),
        (
            "pinned-version",
            Some(format!("{arn}:::{version}")),
            1,
            false,
        ),
        (
            "pinned-previous",
            Some(format!("{arn}::AWSPREVIOUS:")),
            1,
            false,
        ),
        ("another-secret", Some(w.redis.clone()), 1, false),
        ("no-secrets", None, 1, false),
    ];
    let mut before = Vec::new();
    for (service, reference, desired, _) in &cases {
        let secrets: Vec<(&str, &str)> = reference.iter().map(|r| ("DB", r.as_str())).collect();
        let td = w
            .aws
            .task_definition_with_secrets(&format!("macro-ai-dev-{service}"), &secrets)
            .await?;
        w.aws
            .service(CLUSTER, &td, service, *desired, &[], None)
            .await?;
        before.push(w.aws.primary(CLUSTER, service).await?.0);
    }
    let event = w.label_event(arn, &version).await?;
    let (a, b) = tokio::join!(
        invoke(&w.refresh, event.clone()),
        invoke(&w.refresh, event.clone())
    );
    assert!(a.is_ok() && b.is_ok(), "{} / {}", outcome(&a), outcome(&b));
    let report = [a?, b?]
        .into_iter()
        .find(|r| r["refreshes"][0]["outcome"] == "refreshed")
        .context("one refreshed")?;
    for ((service, _, desired, refreshed), old) in cases.iter().zip(&before) {
        let (now, now_desired, _) = w.aws.primary(CLUSTER, service).await?;
        assert_eq!(
            &now != old,
            *refreshed,
            "{service}: a new deployment iff it consumes AWSCURRENT and runs"
        );
        assert_eq!(
            now_desired, *desired,
            "{service}: the desired count is untouched"
        );
        let listed = report["refreshes"][0]["services"]
            .as_array()
            .context("services")?
            .iter()
            .find(|s| s["service"] == format!("{CLUSTER}/{service}"))
            .map(|s| s["action"].as_str().unwrap_or_default().to_string());
        let expected = match (*refreshed, reference_of(&cases, service)) {
            (true, _) => Some("redeployed"),
            (false, Some(_)) if !service.starts_with("another") => Some("skipped"),
            _ => None,
        };
        assert_eq!(listed.as_deref(), expected, "{service}: reported");
    }
    // Redelivered later: no second deployment.
    let again = invoke(&w.refresh, event)
        .await
        .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
    assert_eq!(again["refreshes"][0]["outcome"], "duplicate");
    // The refresh recorded when the version became current, on the secret itself.
    let tags = w.sm.describe_secret().secret_id(arn).send().await?;
    assert!(tags.tags().iter().any(|t| {
        t.key() == Some("macro-ai:current-since")
            && t.value()
                .is_some_and(|v| v.starts_with(&format!("version={version} previous=none at=")))
    }));
    Ok(())
}

fn reference_of<'a>(
    cases: &'a [(&str, Option<String>, i32, bool)],
    service: &str,
) -> Option<&'a String> {
    cases
        .iter()
        .find(|c| c.0 == service)
        .and_then(|c| c.1.as_ref())
}

/// What the Express API does with the JWT secret it read at start: sign with the key, verify
/// with the key, `previous` and `next` (docs/rotate-app-secrets.md).
fn keys_of(task: &Task) -> Result<(String, Vec<String>)> {
    let v: Value = serde_json::from_str(&task.env["JWT_SECRETS"])?;
    let key = |p: &[&str]| {
        p.iter()
            .try_fold(&v, |v, k| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let signing = key(&["accessTokenSecret"]).context("a signing key")?;
    let accepted = [
        Some(signing.clone()),
        key(&["previous", "accessTokenSecret"]),
        key(&["next", "accessTokenSecret"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok((signing, accepted))
}

/// Every task verifies a token every other task signs (a user's requests land on any task).
fn cross_verification_failures(tasks: &[Task], ignore_next: bool) -> Result<Vec<String>> {
    let message = b"header.payload";
    let mut failures = Vec::new();
    for signer in tasks {
        let (key, _) = keys_of(signer)?;
        let token = shared::appsecrets::sign(&key, message);
        for verifier in tasks {
            let (own, mut accepted) = keys_of(verifier)?;
            if ignore_next {
                let v: Value = serde_json::from_str(&verifier.env["JWT_SECRETS"])?;
                let next = v["next"]["accessTokenSecret"].as_str().map(str::to_string);
                accepted.retain(|k| Some(k) != next.as_ref() || *k == own);
            }
            let refs: Vec<&str> = accepted.iter().map(String::as_str).collect();
            if !shared::appsecrets::verifies(&refs, message, &token) {
                failures.push(format!(
                    "task {} refuses task {}'s token",
                    verifier.id, signer.id
                ));
            }
        }
    }
    Ok(failures)
}

#[tokio::test]
async fn app_keys_verify_across_old_and_new_tasks_during_every_rolling_deployment() -> Result<()> {
    let w = World::new().await?;
    let mut key = unique("k0").replace(['-', '_'], "x");
    while key.len() < 64 {
        key.push('k');
    }
    let jwt = create_secret(
        &w.sm,
        "macro-ai/dev/jwt-secrets",
        &json!({"accessTokenSecret": key[..64], "issuer": "macro-ai"}),
    )
    .await?;
    let td = w
        .aws
        .task_definition_with_secrets("macro-ai-dev-web", &[("JWT_SECRETS", &jwt)])
        .await?;
    w.aws
        .service(CLUSTER, &td, "macro-ai-dev-web-service", 3, &[], None)
        .await?;
    let mut app = App::start(&w.aws, &w.sm, CLUSTER, "macro-ai-dev-web-service").await?;
    // Tokens of 24 h (the test secret rotates every 30 days), no minimum key age: three
    // rotations run back to back here.
    let rotator = rotate_app_secrets::rotator(
        w.sm.clone(),
        rotate_app_secrets::Config::from_lookup(|k| match k {
            "TOKEN_MAX_AGE_HOURS" => Some("24".into()),
            "MIN_KEY_AGE_HOURS" => Some("0".into()),
            _ => None,
        })?,
    )
    .watching(w.watch());
    let mut mixed = 0;
    let mut without_next = 0;
    for round in 1..=3 {
        let token = start_rotation(&w.sm, &jwt).await?;
        for step in STEPS {
            let r = invoke(&rotator, step_event(step, &jwt, &token)).await;
            assert!(r.is_ok(), "round {round} {step}: {}", outcome(&r));
        }
        let r = invoke(&w.refresh, w.label_event(&jwt, &token).await?).await;
        assert!(r.is_ok(), "{}", outcome(&r));
        // During the rollout old and new tasks serve side by side: each accepts the other's.
        while app.roll_one().await? {
            if app.outdated().await? > 0 {
                mixed += 1;
                let failures = cross_verification_failures(&app.tasks, false)?;
                assert!(failures.is_empty(), "round {round}: {failures:?}");
                // A verifier that ignores `next` (the shape before this issue) refuses the
                // new tasks' tokens from the second rotation on.
                without_next += cross_verification_failures(&app.tasks, true)?.len();
            }
        }
    }
    println!(
        "app keys: {mixed} mixed moments across 3 rolling deployments, 0 refused; {without_next} \
         refusals by a verifier without `next`"
    );
    assert!(mixed >= 6 && without_next > 0, "{mixed} / {without_next}");
    Ok(())
}

#[tokio::test]
async fn the_url_follows_every_rotation_and_the_seed_s_clients_log_in_with_it() -> Result<()> {
    let w = World::new().await?;
    let url_of = |v: &Value| v["url"].as_str().unwrap_or_default().to_string();
    let secret = |user: &str, password: &str, masterarn: Option<&str>| {
        let mut v = json!({"username": user, "password": password, "engine": "postgres",
            "host": w.stack.pg_host, "port": w.stack.pg_port, "dbname": "postgres",
            "sslmode": "require",
            "url": format!("postgres://{user}:{password}@{}:{}/postgres?sslmode=require",
                           w.stack.pg_host, w.stack.pg_port)});
        if let Some(m) = masterarn {
            v["masterarn"] = json!(m);
        }
        v
    };
    let mut admin = w.stack.pg_admin().await?;
    let mut seen = Vec::new();
    for alternating in [false, true] {
        let user = unique("url");
        let password = unique("initial");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {user} LOGIN PASSWORD '{password}'"
        )))
        .execute(&mut admin)
        .await?;
        let masterarn = alternating.then_some(w.master.as_str());
        let name = if alternating {
            "macro-ai/dev/url-alternating"
        } else {
            "macro-ai/dev/url-single"
        };
        let arn = create_secret(&w.sm, name, &secret(&user, &password, masterarn)).await?;
        // A service injects the secret: a single-user rotation warns that it breaks it.
        let td = w
            .aws
            .task_definition_with_secrets(&unique("macro-ai-dev-url"), &[("DATABASE", &arn)])
            .await?;
        w.aws
            .service(CLUSTER, &td, &unique("url-service"), 1, &[], None)
            .await?;
        let rotator = w.postgres(true);
        for round in 1..=2 {
            let token = start_rotation(&w.sm, &arn).await?;
            for step in STEPS {
                let r = invoke(&rotator, step_event(step, &arn, &token)).await;
                assert!(r.is_ok(), "{name} {round} {step}: {}", outcome(&r));
            }
            // Redeploy what injects it, as the event would, so the next rotation may retire.
            invoke(&w.refresh, w.label_event(&arn, &token).await?)
                .await
                .map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
            let current = value_at(&w.sm, &arn, "AWSCURRENT").await?;
            let url = url_of(&current);
            let expected = current["username"].as_str().unwrap_or_default().to_string();
            let (postgres_js, node_postgres) = w.stack.node_login(&url)?;
            assert_eq!(
                (postgres_js.as_str(), node_postgres.as_str()),
                (expected.as_str(), expected.as_str()),
                "{name}, rotation {round}"
            );
            assert!(
                url.ends_with("/postgres?sslmode=require"),
                "the query is kept"
            );
            seen.push(current["password"].as_str().unwrap_or_default().to_string());
        }
    }
    let notices = w.aws.notifications(&w.queue).await?;
    let warnings = notices
        .iter()
        .filter(|(s, _)| s.contains("consumers fail until redeployed"))
        .count();
    assert_eq!(warnings, 2, "one per single-user rotation: {notices:?}");
    let refs: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_never_shown(&refs, &[]);
    Ok(())
}
