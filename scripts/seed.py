"""Seeds the local stack the way Macro AI runs: databases, roles and Secrets Manager secrets.

    python scripts/seed.py reset     # a fresh moto, roles and secrets; rotations staged
    python scripts/seed.py summary   # what the functions left behind, checked

Runs inside the stack's venv (boto3 comes with moto) with the env of `.stack/env`. Local only:
every endpoint is the loopback stack; passwords are made here and never printed.
"""

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
PG = dict(host=os.environ["MACRO_AI_PG_HOST"], port=int(os.environ["MACRO_AI_PG_PORT"]))
with open(os.environ["MACRO_AI_PG_ADMIN_PASSWORD_FILE"]) as f:
    ADMIN_PASSWORD = f.read().strip()

# The environments of the seed, and how their database secret rotates.
DATABASES = {
    "dev": {"user": "macro_ai_dev_app", "db": "macro_ai_dev", "alternating": False},
    "staging": {"user": "macro_ai_staging_app", "db": "macro_ai_staging", "alternating": True},
}


def sm():
    return boto3.client("secretsmanager", endpoint_url=ENDPOINT)


def psql(sql, user="postgres", password=None, db="postgres", check=True):
    env = dict(os.environ, PGPASSWORD=password or ADMIN_PASSWORD, PGSSLMODE="disable")
    return subprocess.run(
        ["psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", user, "-d", db, "-v",
         "ON_ERROR_STOP=1", "-qtA", "-c", sql],
        env=env, capture_output=True, text=True, check=check)


REDIS = dict(host=os.environ["MACRO_AI_REDIS_HOST"], port=int(os.environ["MACRO_AI_REDIS_PORT"]),
             admin=os.environ["MACRO_AI_REDIS_ADMIN_USER"])
# What the secrets name, as a deployment would: the TLS endpoint (the demo pins REDIS_HOST to it).
REDIS_TLS = dict(host="localhost", port=int(os.environ["MACRO_AI_REDIS_TLS_PORT"]))
with open(os.environ["MACRO_AI_REDIS_ADMIN_PASSWORD_FILE"]) as f:
    REDIS_ADMIN_PASSWORD = f.read().strip()
OPENAI = os.environ["OPENAI_BASE_URL"]


def redis_cli(*args, user=None, password=None):
    env = dict(os.environ, REDISCLI_AUTH=password or REDIS_ADMIN_PASSWORD)
    return subprocess.run(["redis-cli", "-h", REDIS["host"], "-p", str(REDIS["port"]), "--user",
                           user or REDIS["admin"], "--no-auth-warning", *args],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


def openai_stub(path, body):
    req = urllib.request.Request(f"{OPENAI}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def openai_models(key):
    req = urllib.request.Request(f"{OPENAI}/v1/models", headers={"Authorization": f"Bearer {key}"})
    try:
        return urllib.request.urlopen(req).status
    except urllib.error.HTTPError as e:
        return e.code


def token_of(function, event_file="createSecret.json"):
    with open(os.path.join(ROOT, "events", function, event_file)) as f:
        return json.load(f)["ClientRequestToken"]


def stage_rotation(client, secret_id, token):
    """What Secrets Manager does before invoking the rotation Lambda: AWSPENDING on an empty
    version. moto then fails to invoke the (absent) Lambda, which is expected here. The JWT
    secret rotates every 31 days, as the template schedules it (the seed's sessions last 30)."""
    days = 31 if secret_id.endswith("/jwt-secrets") else 30
    try:
        client.rotate_secret(
            SecretId=secret_id, ClientRequestToken=token,
            RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:macro-ai-ops-rotate",
            RotationRules={"AutomaticallyAfterDays": days})
    except client.exceptions.ResourceNotFoundException:
        pass


def reset():
    urllib.request.urlopen(urllib.request.Request(f"{ENDPOINT}/moto-api/reset", method="POST"))
    client = sm()
    master = {"username": "postgres", "password": ADMIN_PASSWORD, "engine": "postgres",
              "host": PG["host"], "port": PG["port"], "dbname": "postgres", "sslmode": "disable"}
    master_arn = client.create_secret(Name="macro-ai/staging/database-master",
                                      SecretString=json.dumps(master))["ARN"]
    # What the template passes rotate-postgres as DB_MASTER_SECRET_ARN; the demo exports it.
    with open(os.path.join(os.environ["MACRO_AI_STACK_DIR"], "database-master.arn"), "w") as f:
        f.write(master_arn)
    for env, d in DATABASES.items():
        user, db = d["user"], d["db"]
        password = secrets.token_urlsafe(24)
        for role in (user + "_clone", user):
            psql(f"DROP DATABASE IF EXISTS {db}")
            psql(f"DROP ROLE IF EXISTS {role}")
        psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        psql(f"CREATE DATABASE {db} OWNER {user}")
        psql("CREATE TABLE conversations (id bigserial PRIMARY KEY, title text NOT NULL);"
             "INSERT INTO conversations (title) VALUES ('hello, Macro AI')",
             user=user, password=password, db=db)
        value = {"username": user, "password": password, "engine": "postgres",
                 "host": PG["host"], "port": PG["port"], "dbname": db, "sslmode": "disable"}
        if d["alternating"]:
            value["masterarn"] = master_arn
        client.create_secret(Name=f"macro-ai/{env}/database", SecretString=json.dumps(value),
                             Tags=[{"Key": "macro-ai:environment", "Value": env}])
    stage_rotation(client, "macro-ai/dev/database", token_of("rotate-postgres"))

    # Redis: the app's ACL user, an admin secret, the seed's URL-shaped secret.
    user, password = "macro_ai_dev_app", secrets.token_urlsafe(24)
    redis_cli("ACL", "DELUSER", user)
    redis_cli("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    admin_arn = client.create_secret(Name="macro-ai/dev/redis-admin", SecretString=json.dumps(
        {"username": REDIS["admin"], "password": REDIS_ADMIN_PASSWORD, "host": REDIS_TLS["host"],
         "port": REDIS_TLS["port"], "tls": True}))["ARN"]
    client.create_secret(Name="macro-ai/dev/redis", SecretString=json.dumps(
        {"url": f"rediss://{user}:{password}@{REDIS_TLS['host']}:{REDIS_TLS['port']}/0",
         "adminarn": admin_arn}))
    stage_rotation(client, "macro-ai/dev/redis", token_of("rotate-redis"))

    # ElastiCache, what Macro AI runs: an RBAC user whose passwords change through the ElastiCache
    # API (ModifyUser); the stack's stand-in applies each change to the same Redis.
    # ElastiCache accepts letters, digits and ! & # $ ^ < > - in passwords: hex keeps to that.
    ec_user, ec_password = "macro_ai_staging_app", secrets.token_hex(20)
    redis_cli("ACL", "DELUSER", ec_user)
    redis_cli("ACL", "SETUSER", ec_user, "on", f">{ec_password}", "~*", "+@all")
    registration = {"user_id": "macro-ai-staging-app", "user_name": ec_user, "modifying_ms": 300,
                    "redis": {"host": REDIS["host"], "port": REDIS["port"],
                              "admin_user": REDIS["admin"], "admin_password": REDIS_ADMIN_PASSWORD}}
    urllib.request.urlopen(urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] + "/_stub/users",
        data=json.dumps(registration).encode(), method="POST",
        headers={"Content-Type": "application/json"}))
    client.create_secret(Name="macro-ai/staging/redis-credentials", SecretString=json.dumps(
        {"url": f"rediss://{ec_user}:{ec_password}@{REDIS_TLS['host']}:{REDIS_TLS['port']}/0",
         "user_arn": "arn:aws:elasticache:us-east-1:123456789012:user:macro-ai-staging-app"}))

    # OpenAI: the current key, and a new one an operator staged as CANDIDATE.
    current, candidate = ("sk-proj-" + secrets.token_urlsafe(32) for _ in range(2))
    for key in (current, candidate):
        openai_stub("/_stub/keys", {"key": key, "status": 200})
    client.create_secret(Name="macro-ai/dev/openai-api-key", SecretString=current)
    client.put_secret_value(SecretId="macro-ai/dev/openai-api-key", SecretString=candidate,
                            VersionStages=["CANDIDATE"])
    stage_rotation(client, "macro-ai/dev/openai-api-key", token_of("rotate-openai-key"))

    # The seed's JWT signing secret: 64 characters without " @ / \\ ' (what the CDK generates).
    alphabet = "".join(c for c in map(chr, range(33, 127)) if c not in "\"@/\\'")
    key = "".join(secrets.choice(alphabet) for _ in range(64))
    client.create_secret(Name="macro-ai/dev/jwt-secrets",
                         SecretString=json.dumps({"accessTokenSecret": key}))
    stage_rotation(client, "macro-ai/dev/jwt-secrets", token_of("rotate-app-secrets"))
    seed_ecs()
    seed_prod()
    sns = boto3.client("sns", endpoint_url=ENDPOINT)
    sqs = boto3.client("sqs", endpoint_url=ENDPOINT)
    topic = sns.create_topic(Name="macro-ai-ops-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="macro-ai-ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    print("seeded: PostgreSQL databases macro_ai_dev / macro_ai_staging with their app roles, "
          "Redis user macro_ai_dev_app, an OpenAI key with a staged CANDIDATE, their secrets "
          "macro-ai/{dev,staging}/database, macro-ai/dev/redis, macro-ai/staging/redis-credentials "
          "(an ElastiCache RBAC user), macro-ai/dev/openai-api-key, "
          "and the ECS clusters macro-ai-{dev,staging}-cluster with their api and ui services")


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_sign(label):
    """An HS256 JWT signed with the JWT secret's AWSCURRENT key, as the Express API issues one,
    kept in the stack's folder under `label` (the key is never printed)."""
    import hashlib, hmac, time
    key = json.loads(sm().get_secret_value(SecretId="macro-ai/dev/jwt-secrets",
                                           VersionStage="AWSCURRENT")["SecretString"])["accessTokenSecret"]
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": "user-42", "iat": int(time.time()), "label": label}).encode())
    sig = b64url(hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    with open(os.path.join(os.environ["MACRO_AI_STACK_DIR"], f"jwt-{label}.txt"), "w") as f:
        f.write(f"{head}.{body}.{sig}")
    print(f"  token {label!r} signed with the current key")


def jwt_verify(label, expected):
    """What the Express API does (jsonwebtoken): verify with the key, `previous` or `next`."""
    import hashlib, hmac
    with open(os.path.join(os.environ["MACRO_AI_STACK_DIR"], f"jwt-{label}.txt")) as f:
        head, body, sig = f.read().split(".")
    value = json.loads(sm().get_secret_value(SecretId="macro-ai/dev/jwt-secrets",
                                             VersionStage="AWSCURRENT")["SecretString"])
    candidates = [("the current key", value["accessTokenSecret"])]
    for field in ("previous", "next"):
        other = value.get(field) or {}
        if other.get("accessTokenSecret"):
            candidates.append((field, other["accessTokenSecret"]))
    got = "refused"
    for name, key in candidates:
        mac = b64url(hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        if hmac.compare_digest(mac, sig):
            got = f"accepted ({name})"
            break
    ok = got.startswith(expected)
    print(f"  token {label!r}: {got}{'' if ok else f'  <- expected {expected}'}")
    return ok


# What each environment's API injects (the seed's apiTaskDef: `ecs.Secret.fromSecretsManager`),
# as ECS task definition `secrets`: name -> (secret, JSON key or None).
API_SECRETS = {
    "dev": {"RELATIONAL_DATABASE_URL": ("macro-ai/dev/database", None),
            "REDIS_URL": ("macro-ai/dev/redis", "url"),
            "JWT_SECRETS": ("macro-ai/dev/jwt-secrets", None)},
    "staging": {"RELATIONAL_DATABASE_URL": ("macro-ai/staging/database", None),
                "REDIS_URL": ("macro-ai/staging/redis-credentials", "url")},
}


def seed_ecs():
    """The seed's ECS layout: api (autoscaled, injecting its secrets) and ui services in the dev
    and staging clusters."""
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    aas = boto3.client("application-autoscaling", endpoint_url=ENDPOINT)
    schedules = {"dev": "dev-office-hours", "staging": "staging-nightly"}
    for env, schedule in schedules.items():
        cluster = f"macro-ai-{env}-cluster"
        ecs.create_cluster(clusterName=cluster)
        for svc, desired, bounds in (("api", 2, (1, 4)), ("ui", 2, None)):
            container = {"name": svc, "image": f"macro-ai/{svc}:1.0.0", "memory": 512}
            if svc == "api":
                container["secrets"] = [
                    {"name": name, "valueFrom": sm().describe_secret(SecretId=secret)["ARN"]
                     + (f":{key}::" if key else "")}
                    for name, (secret, key) in API_SECRETS[env].items()]
            td = ecs.register_task_definition(
                family=f"macro-ai-{env}-{svc}",
                containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]
            name = f"macro-ai-{env}-{svc}-service"
            ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td,
                               desiredCount=desired,
                               tags=[{"key": "macro-ai:schedule", "value": schedule},
                                     {"key": "macro-ai:environment", "value": env}])
            if bounds:
                aas.register_scalable_target(
                    ServiceNamespace="ecs", ResourceId=f"service/{cluster}/{name}",
                    ScalableDimension="ecs:service:DesiredCount",
                    MinCapacity=bounds[0], MaxCapacity=bounds[1])


ROLLBACK_TABLE = "macro-ai-ops-rollbacks"
BUDGET_TABLE = "macro-ai-ops-budget-events"
REFRESH_TABLE = "macro-ai-ops-refreshes"


def seed_prod():
    """The prod API service on release 1.4.0 (two more revisions registered), and the ledger."""
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    ecs.create_cluster(clusterName="macro-ai-prod-cluster")
    revs = [ecs.register_task_definition(
        family="macro-ai-prod-api",
        containerDefinitions=[{"name": "api", "image": f"macro-ai/api:{v}", "memory": 1024}]
    )["taskDefinition"]["taskDefinitionArn"] for v in ("1.4.0", "1.4.1")]
    ecs.create_service(cluster="macro-ai-prod-cluster", serviceName="macro-ai-prod-api-service",
                       taskDefinition=revs[0], desiredCount=4)
    for table in (ROLLBACK_TABLE, BUDGET_TABLE, REFRESH_TABLE):
        boto3.client("dynamodb", endpoint_url=ENDPOINT).create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def release():
    """What a CI deploy of 1.4.1 does: UpdateService to the newest revision."""
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    newest = ecs.list_task_definitions(familyPrefix="macro-ai-prod-api")["taskDefinitionArns"][-1]
    ecs.update_service(cluster="macro-ai-prod-cluster", service="macro-ai-prod-api-service",
                       taskDefinition=newest)


def prod_api():
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    s = ecs.describe_services(cluster="macro-ai-prod-cluster", services=["macro-ai-prod-api-service"],
                              include=["TAGS"])["services"][0]
    tags = {t["key"]: t["value"] for t in s.get("tags", [])}
    print(f"    macro-ai-prod-api-service runs {s['taskDefinition'].rsplit('/', 1)[1]}"
          f"; known-good {tags.get('macro-ai:known-good', '-').rsplit('/', 1)[-1]}"
          f"; last rollback: {tags.get('macro-ai:last-rollback', '-')}")


def services():
    """One line per seeded service: desired count, scalable-target bounds, saved capacity."""
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    aas = boto3.client("application-autoscaling", endpoint_url=ENDPOINT)
    for env in ("dev", "staging"):
        cluster = f"macro-ai-{env}-cluster"
        names = [a.rsplit("/", 1)[1] for a in ecs.list_services(cluster=cluster)["serviceArns"]]
        for s in ecs.describe_services(cluster=cluster, services=names, include=["TAGS"])["services"]:
            tags = {t["key"]: t["value"] for t in s.get("tags", [])}
            t = aas.describe_scalable_targets(
                ServiceNamespace="ecs",
                ResourceIds=[f"service/{cluster}/{s['serviceName']}"])["ScalableTargets"]
            bounds = f"min={t[0]['MinCapacity']} max={t[0]['MaxCapacity']}" if t else "no scalable target"
            saved = tags.get("macro-ai:saved-capacity", "-")
            print(f"    {s['serviceName']:30} desired={s['desiredCount']}  {bounds:20} saved: {saved}")


def label_event(secret_id, path):
    """Secrets Manager's `Secret Label Updated` event for the secret's AWSCURRENT version, as
    EventBridge delivers it (the documented example, events/aws-samples/secret-label-updated-doc.json,
    about this secret), written to `path`."""
    import datetime
    d = sm().describe_secret(SecretId=secret_id)
    version = next(v for v, labels in d["VersionIdsToStages"].items() if "AWSCURRENT" in labels)
    with open(os.path.join(ROOT, "events", "aws-samples", "secret-label-updated-doc.json")) as f:
        event = json.load(f)
    event.update({"resources": [d["ARN"]], "region": "us-east-1", "account": "123456789012",
                  "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    event["detail"].update({"name": d["Name"], "versionId": version})
    with open(path, "w") as f:
        json.dump(event, f)


def deployments():
    """The API services' PRIMARY deployment: a new one after each refresh."""
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    for env in ("dev", "staging"):
        s = ecs.describe_services(cluster=f"macro-ai-{env}-cluster",
                                  services=[f"macro-ai-{env}-api-service"])["services"][0]
        d = next(d for d in s["deployments"] if d["status"] == "PRIMARY")
        print(f"    macro-ai-{env}-api-service: deployment {d['id']} created "
              f"{d['createdAt'].strftime('%H:%M:%S.%f')[:-3]}, desired={s['desiredCount']}")


def consumers_current():
    """The retire guard's question, asked of the end state: may a task of an API service still
    hold a value from before its secrets' last change? (Each secret records when AWSCURRENT moved
    in its `macro-ai:current-since` tag; a service at 0 holds nothing.)"""
    import datetime
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    rows, ok = [], True
    for env, injected in API_SECRETS.items():
        s = ecs.describe_services(cluster=f"macro-ai-{env}-cluster",
                                  services=[f"macro-ai-{env}-api-service"])["services"][0]
        created = min(d["createdAt"] for d in s["deployments"])
        for secret, _ in injected.values():
            d = sm().describe_secret(SecretId=secret)
            current = next(v for v, l in d["VersionIdsToStages"].items() if "AWSCURRENT" in l)
            tag = {t["Key"]: t["Value"] for t in d.get("Tags", [])}.get("macro-ai:current-since", "")
            parts = dict(p.split("=", 1) for p in tag.split() if "=" in p)
            if parts.get("version") != current:
                works = False
                why = "no record of when AWSCURRENT moved"
            else:
                since = datetime.datetime.fromisoformat(parts["at"].replace("Z", "+00:00"))
                works = s["desiredCount"] == 0 or created.astimezone(datetime.timezone.utc) >= since
                why = "every task started after the change" if works else "a task may hold the value before it"
            ok = ok and works
            rows.append((f"macro-ai-{env}-api-service", secret, why + (" (as expected)" if works else " (UNEXPECTED)")))
    return rows, ok


def report():
    """Condenses a function's JSON answer (on stdin) to what changed."""
    r = json.load(sys.stdin)
    if "days" in r:  # after-hours-scaling's plan: each service's moves
        print(f"    the calendar from {r['from']}, {r['days']} days")
        for s in r["services"]:
            head = f"{s['service']}: {s['mode']}"
            if s.get("schedule"):
                head += (f", {s['schedule']} ({s['timeZone']}), off capacity {s['offCapacity']},"
                         f" {s['atStart']} at the start")
            if s.get("holidays"):
                head += f"; holidays {', '.join(s['holidays'])}"
            print(f"    {head}" + (f" [{s['note']}]" if s.get("note") else ""))
            for c in s["changes"]:
                print(f"      {c['local']}  {c['action']:<4}  {c['why']}")
        return
    for x in r.get("refreshes", []):
        print(f"    {x['secret']}: {x['outcome']} ({x['why']})")
        for s in x.get("services", []):
            print(f"      {s['service']}: {s['action']} ({s['why']})")
    if "changed" in r:
        print(f"    changed={r['changed']} failed={r['failed']} ({r['mode']} at {r['at']})")
    for s in r.get("services", []):
        if s["outcome"] not in ("unchanged", "skipped"):
            print(f"    {s['service']}: {s['outcome']} ({s['why']})")
    for o in r.get("outcomes", []):
        move = f" {o['from']} -> {o['to']}" if o.get("to") else ""
        print(f"    {o['input']}: {o['action']}{move} ({o['why']})")
        for s in o.get("services", []):
            print(f"      {s}")


def notifications():
    """The subjects of every notification the functions published, in order."""
    sqs = boto3.client("sqs", endpoint_url=ENDPOINT)
    queue = sqs.get_queue_url(QueueName="macro-ai-ops-inbox")["QueueUrl"]
    count = 0
    while True:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            count += 1
            print(f"  {json.loads(m['Body']).get('Subject', '')}")
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    print(f"  ({count} notifications; full texts are in .stack/cargo-lambda-watch.log and the topic)")
    return count


def summary():
    client = sm()
    rows = []
    ok = True
    for env in DATABASES:
        secret_id = f"macro-ai/{env}/database"
        versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
        labels = sorted(l for ls in versions.values() for l in ls)
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            try:
                v = json.loads(client.get_secret_value(SecretId=secret_id,
                                                       VersionStage=stage)["SecretString"])
            except client.exceptions.ResourceNotFoundException:
                continue
            login = psql("SELECT count(*) FROM conversations", user=v["username"],
                         password=v["password"], db=v["dbname"], check=False)
            works = login.returncode == 0
            # Single-user rotation retires the old password; alternating users keep it working.
            expected = stage == "AWSCURRENT" or DATABASES[env]["alternating"]
            ok = ok and works == expected
            verdict = "logs in" if works else "refused"
            verdict += " (as expected)" if works == expected else " (UNEXPECTED)"
            rows.append((secret_id, stage, v["username"], verdict))
        rows.append((secret_id, "labels", ",".join(labels), f"{len(versions)} versions"))
    # Redis, self-managed and ElastiCache: AWSCURRENT and AWSPREVIOUS both authenticate (the
    # overlap window).
    for secret_id in ("macro-ai/dev/redis", "macro-ai/staging/redis-credentials"):
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            v = json.loads(client.get_secret_value(SecretId=secret_id,
                                                   VersionStage=stage)["SecretString"])
            url = urllib.parse.urlparse(v["url"])
            try:
                redis_cli("PING", user=urllib.parse.unquote(url.username),
                          password=urllib.parse.unquote(url.password))
                works = True
            except subprocess.CalledProcessError:
                works = False
            ok = ok and works
            rows.append((secret_id, stage, urllib.parse.unquote(url.username),
                         "logs in (as expected)" if works else "refused (UNEXPECTED)"))
    # OpenAI: the promoted key is the one the operator staged, and OpenAI accepts it.
    for stage in ("AWSCURRENT", "AWSPREVIOUS"):
        key = client.get_secret_value(SecretId="macro-ai/dev/openai-api-key",
                                      VersionStage=stage)["SecretString"]
        works = openai_models(key) == 200
        ok = ok and works
        rows.append(("macro-ai/dev/openai-api-key", stage, "sk-..." + key[-4:],
                     "accepted (as expected)" if works else "refused (UNEXPECTED)"))
    # ECS: every scheduled service back as it was, prod rolled back to 1.4.0 and recorded.
    ecs = boto3.client("ecs", endpoint_url=ENDPOINT)
    aas = boto3.client("application-autoscaling", endpoint_url=ENDPOINT)
    for env in ("dev", "staging"):
        cluster = f"macro-ai-{env}-cluster"
        names = [a.rsplit("/", 1)[1] for a in ecs.list_services(cluster=cluster)["serviceArns"]]
        for svc in ecs.describe_services(cluster=cluster, services=names, include=["TAGS"])["services"]:
            tags = {t["key"] for t in svc.get("tags", [])}
            t = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[
                f"service/{cluster}/{svc['serviceName']}"])["ScalableTargets"]
            bounds = (t[0]["MinCapacity"], t[0]["MaxCapacity"]) if t else None
            works = (svc["desiredCount"] == 2 and bounds in (None, (1, 4))
                     and not tags & {"macro-ai:saved-capacity", "macro-ai:budget-hold"})
            ok = ok and works
            rows.append((svc["serviceName"], "capacity", f"desired={svc['desiredCount']} bounds={bounds}",
                         "as seeded (as expected)" if works else "NOT RESTORED (UNEXPECTED)"))
    consumer_rows, consumers_ok = consumers_current()
    rows.extend((a, "consumer", b, c) for a, b, c in consumer_rows)
    ok = ok and consumers_ok
    prod = ecs.describe_services(cluster="macro-ai-prod-cluster", services=["macro-ai-prod-api-service"],
                                 include=["TAGS"])["services"][0]
    tags = {t["key"]: t["value"] for t in prod.get("tags", [])}
    works = prod["taskDefinition"].endswith(":1") and "macro-ai:last-rollback" in tags
    ok = ok and works
    rows.append(("macro-ai-prod-api-service", "release", prod["taskDefinition"].rsplit("/", 1)[1],
                 "rolled back (as expected)" if works else "NOT ROLLED BACK (UNEXPECTED)"))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, width)))
    return ok


def request_ids(log_path):
    """Every line the functions wrote during the demo (JSON logs, EMF metrics) names the request
    it belongs to: the runtime's span (`span.requestId`) or the metric's `requestId` property."""
    lines, missing = 0, []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.strip()
            start = raw.find("{")
            if start < 0:
                continue
            try:
                line = json.loads(raw[start:])
            except ValueError:
                continue
            if not isinstance(line, dict) or not ("_aws" in line or "level" in line):
                continue
            message = str((line.get("fields") or {}).get("message", ""))
            if message.startswith("AWS_LAMBDA_MAX_CONCURRENCY is set"):
                # The runtime's own notice at start-up, before any request exists: cargo lambda
                # sets the variable locally; Lambda sets it only on Managed Instances.
                continue
            lines += 1
            if not (line.get("requestId") or (line.get("span") or {}).get("requestId")):
                missing.append(raw[:160])
    print(f"  {lines} function log and metric lines, {len(missing)} without a request id")
    for m in missing[:5]:
        print(f"    {m}")
    return lines > 0 and not missing


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "reset":
        reset()
    elif what == "summary":
        sys.exit(0 if summary() else 1)
    elif what == "notifications":
        sys.exit(0 if notifications() >= 20 else 1)
    elif what == "label-event":
        label_event(sys.argv[2], sys.argv[3])
    elif what == "deployments":
        deployments()
    elif what == "release":
        release()
    elif what == "prod-api":
        prod_api()
    elif what == "services":
        services()
    elif what == "report":
        report()
    elif what == "stage":
        stage_rotation(sm(), sys.argv[2], sys.argv[3])
    elif what == "request-ids":
        sys.exit(0 if request_ids(sys.argv[2]) else 1)
    elif what == "jwt-sign":
        jwt_sign(sys.argv[2])
    elif what == "jwt-verify":
        sys.exit(0 if jwt_verify(sys.argv[2], sys.argv[3]) else 1)
    else:
        sys.exit("usage: seed.py reset | summary | services | deployments | report | release | prod-api | notifications | stage SECRET_ID TOKEN | label-event SECRET_ID FILE | request-ids LOG | jwt-sign LABEL | jwt-verify LABEL accepted|refused")
