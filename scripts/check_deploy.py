"""What CloudFormation will make of template.yaml, checked offline for every environment.

`sam validate` without credentials and cfn-lint on the SAM source both passed a template that the
SAM transform rejects, so this check runs the transform itself (`aws-sam-translator`, the code
CloudFormation runs for `AWS::Serverless-2016-10-31`) once per `samconfig.toml` environment with
that environment's parameter values, then checks the expanded CloudFormation:

1. The transform succeeds (any error fails, with the translator's own message).
2. cfn-lint is clean on each expanded template (what the transform generates is linted too).
3. The generated wiring is what docs/deploy.md promises:
   - every EventBridge rule that targets a function has an invoke permission for
     events.amazonaws.com scoped to that rule, and a dead-letter queue;
   - every rule's dead-letter queue has a queue policy statement that lets events.amazonaws.com
     send to it from that rule;
   - every EventBridge Scheduler schedule has a dead-letter queue; its execution role may invoke
     its target and send to that queue (Scheduler delivers dead letters with that role, not a queue policy);
   - every SNS subscription to a function has an invoke permission scoped to its topic;
   - every function's on-failure destination queue is writable by the function's role;
   - every rotation schedule's function has an invoke permission for secretsmanager.amazonaws.com;
   - no physical name is given twice within one stack.
4. The consumers of secrets (issue 21): refresh-consumers' rule matches Secrets Manager's
   documented `Secret Label Updated` event for this environment's secrets when AWSCURRENT moves,
   and neither another label nor another environment's secret; its role may read the clusters'
   services and task definitions, redeploy the services and describe the secrets; every function
   that watches CONSUMER_CLUSTERS may read them, and every rotation function may record when
   AWSCURRENT moved (secretsmanager:TagResource, for that one tag key only).
5. KMS scope (issue 22): a role that may use a key other than the stack's topic key (the
   secrets' key) may do so only through Secrets Manager (`kms:ViaService`) and only for named
   secrets (`kms:EncryptionContext:SecretARN`): otherwise it could decrypt anything under that key.

    python scripts/check_deploy.py              expand dev, staging, prod; check; exit 1 on problems
    python scripts/check_deploy.py --self-test  prove each check fails on a template that breaks it

Expanded templates are written to .stack/expanded/<env>.json for reading. Only a real deploy shows
what depends on the account: IAM's own validation of policies, names already taken, service quotas,
the referenced secrets, subnets and security groups existing, and KMS key policies.
"""

import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENVIRONMENTS = ("dev", "staging", "prod")
# `sam deploy` uploads each CodeUri and rewrites it to the S3 object before CloudFormation sees it.
PACKAGED_CODE_URI = "s3://macro-ai-ops-artifacts/macro-ai-ops/bootstrap.zip"
# The transform asks IAM for this map only when a function names an AWS managed policy by name;
# offline, the names this template may use (an unknown name fails the transform, as it would).
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaVPCAccessExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
    }.items()
}
# Properties that fix a resource's physical name, by resource type.
NAME_PROPERTIES = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Events::Rule": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::CE::AnomalyMonitor": "MonitorName",
    "AWS::CE::AnomalySubscription": "SubscriptionName",
    "AWS::KMS::Alias": "AliasName",
}
# Physical names that live in the account (or region) whatever the stack: two stacks in one
# account must not both create one. Budgets' names are per account.
ACCOUNT_NAME_PROPERTIES = dict(NAME_PROPERTIES, **{"AWS::Budgets::Budget": ("Budget", "BudgetName")})


class TransformFailed(Exception):
    pass


# --- inputs -------------------------------------------------------------------------------


def load_template(path=None):
    return json.loads(json.dumps(cfn_yaml.load(path or os.path.join(ROOT, "template.yaml"))))


def environments(path=None):
    """{env: (stack name, region, {parameter: value})} from samconfig.toml's deploy sections."""
    with open(path or os.path.join(ROOT, "samconfig.toml"), "rb") as f:
        config = tomllib.load(f)
    out = {}
    for env in ENVIRONMENTS:
        deploy = config.get(env, {}).get("deploy", {}).get("parameters")
        if deploy is None:
            raise SystemExit(f"samconfig.toml: no [{env}.deploy.parameters]")
        overrides = deploy.get("parameter_overrides", [])
        if isinstance(overrides, str):
            overrides = overrides.split()
        params = dict(item.split("=", 1) for item in overrides)
        out[env] = (deploy["stack_name"], deploy["region"], params)
    return out


def check_parameters(template, stacks):
    """Each environment's parameter values against the template's AllowedPattern, as
    CloudFormation checks them at deploy (the SAM transform does not): a secret ARN without its
    six random characters matches no IAM resource and no KMS encryption context."""
    problems = []
    declared = template.get("Parameters", {})
    for env, (_, _, params) in stacks.items():
        for name, value in params.items():
            pattern = declared.get(name, {}).get("AllowedPattern")
            if name not in declared:
                problems.append(f"{env}: parameter {name} is not in the template")
            elif pattern and not re.fullmatch(pattern, value):
                problems.append(f"{env}: parameter {name} does not match its AllowedPattern {pattern}")
    return problems


def account_of(params):
    for value in params.values():
        parts = value.split(":")
        if value.startswith("arn:") and len(parts) > 4 and parts[4].isdigit():
            return parts[4]
    return "123456789012"


# --- the transform ------------------------------------------------------------------------


def transform(template, stack, region, params):
    """The SAM transform as CloudFormation runs it, with the pseudo parameters it passes."""
    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = PACKAGED_CODE_URI
    values = dict(params)
    values.update({
        "AWS::Region": region,
        "AWS::AccountId": account_of(params),
        "AWS::StackName": stack,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    })
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region), metrics=metrics)
    try:
        return translator.translate(template, parameter_values=values,
                                    get_managed_policy_map=lambda: MANAGED_POLICIES)
    except InvalidDocumentException as e:
        raise TransformFailed("; ".join(c.message for c in e.causes)) from e
    finally:
        metrics.publish()  # offline: the dummy publisher drops them


# --- reading the expanded template ----------------------------------------------------------


def target_id(value):
    """The logical id an intrinsic points at ({"Ref": X}, {"Fn::GetAtt": [X, "Arn"]}), else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def as_list(value):
    return value if isinstance(value, list) else [value]


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v.get("Type") == kind}


def unconditional(statement):
    """The statements an entry may be: itself, or each branch of its Fn::If (a statement a
    condition adds, as the template does for the pinned secrets and the KMS key)."""
    if isinstance(statement, dict) and "Fn::If" in statement:
        for branch in statement["Fn::If"][1:]:
            yield from unconditional(branch)
    elif isinstance(statement, dict):
        yield statement


def role_statements(resources, role_ref):
    role = resources.get(target_id(role_ref) or "", {})
    for policy in role.get("Properties", {}).get("Policies", []):
        for entry in as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
            for st in unconditional(entry):
                if st.get("Effect") == "Allow":
                    yield st


def resource_ids(resource):
    """The logical ids a Resource entry names, through Fn::If's branches."""
    for r in as_list(resource):
        if isinstance(r, dict) and "Fn::If" in r:
            for branch in r["Fn::If"][1:]:
                yield from resource_ids(branch)
        elif target_id(r) is not None:
            yield target_id(r)


def role_allows(resources, role_ref, action, resource_id):
    for st in role_statements(resources, role_ref):
        if action in as_list(st.get("Action")) and resource_id in resource_ids(st.get("Resource")):
            return True
    return False


# What each rotation function asks Secrets Manager about the secret it rotates (shared/src/aws/
# secrets_manager.rs); a role without one fails that step in AWS, and nowhere here (moto checks
# no IAM). ListSecretVersionIds: rotate-app-secrets' key age (issue 22).
ROTATION_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage")
ROTATION_EXTRA_ACTIONS = {"RotateAppSecretsFunction": ("secretsmanager:ListSecretVersionIds",)}
# The secret a rotated secret names (`masterarn`, `adminarn`) and the function is pinned to: read,
# and described to compare the two by the ARN Secrets Manager gives (issue 22).
PINNED_SECRETS = {"RotatePostgresFunction": "DatabaseMasterSecretArn",
                  "RotateRedisFunction": "RedisAdminSecretArn"}
PINNED_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


def has_invoke_permission(resources, function_id, principal, source_id=None):
    for perm in of_type(resources, "AWS::Lambda::Permission").values():
        p = perm.get("Properties", {})
        if p.get("Action") != "lambda:InvokeFunction" or p.get("Principal") != principal:
            continue
        if target_id(p.get("FunctionName")) != function_id:
            continue
        if source_id is None:
            if "SourceAccount" in p or "SourceArn" in p:
                return True
        elif target_id(p.get("SourceArn")) == source_id:
            return True
    return False


def queue_admits_rule(resources, queue_id, rule_id):
    """A queue policy on queue_id lets events.amazonaws.com send from rule_id."""
    for policy in of_type(resources, "AWS::SQS::QueuePolicy").values():
        p = policy.get("Properties", {})
        if queue_id not in [target_id(q) for q in as_list(p.get("Queues"))]:
            continue
        for st in as_list(p.get("PolicyDocument", {}).get("Statement", [])):
            services = as_list(st.get("Principal", {}).get("Service", []))
            if (st.get("Effect") != "Allow" or "events.amazonaws.com" not in services
                    or "sqs:SendMessage" not in as_list(st.get("Action"))
                    or queue_id not in [target_id(r) for r in as_list(st.get("Resource"))]):
                continue
            arns = st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
            if arns is None or rule_id in [target_id(a) for a in as_list(arns)]:
                return True
    return False


# --- the checks -----------------------------------------------------------------------------


def check_wiring(cfn):
    resources = cfn.get("Resources", {})
    functions = of_type(resources, "AWS::Lambda::Function")
    problems = []
    for rid, rule in of_type(resources, "AWS::Events::Rule").items():
        for target in rule.get("Properties", {}).get("Targets", []):
            fn = target_id(target.get("Arn"))
            if fn in functions and not has_invoke_permission(resources, fn, "events.amazonaws.com", rid):
                problems.append(f"rule {rid}: no invoke permission on {fn} for events.amazonaws.com from this rule")
            if fn in functions and "DeadLetterConfig" not in target:
                problems.append(f"rule {rid}: no dead-letter queue (undeliverable events would be lost)")
            dlq = target_id(target.get("DeadLetterConfig", {}).get("Arn"))
            if "DeadLetterConfig" in target and not queue_admits_rule(resources, dlq, rid):
                problems.append(f"rule {rid}: dead-letter queue {dlq} has no policy letting this rule send")
    for sid, schedule in of_type(resources, "AWS::Scheduler::Schedule").items():
        target = schedule.get("Properties", {}).get("Target", {})
        role = target.get("RoleArn")
        fn = target_id(target.get("Arn"))
        if fn in functions and not role_allows(resources, role, "lambda:InvokeFunction", fn):
            problems.append(f"schedule {sid}: its role may not invoke {fn}")
        if "DeadLetterConfig" not in target:
            problems.append(f"schedule {sid}: no dead-letter queue (undeliverable events would be lost)")
        else:
            dlq = target_id(target["DeadLetterConfig"].get("Arn"))
            if not role_allows(resources, role, "sqs:SendMessage", dlq):
                problems.append(f"schedule {sid}: its role may not send to dead-letter queue {dlq}")
    for sid, sub in of_type(resources, "AWS::SNS::Subscription").items():
        p = sub.get("Properties", {})
        fn = target_id(p.get("Endpoint"))
        if p.get("Protocol") == "lambda" and not has_invoke_permission(
                resources, fn, "sns.amazonaws.com", target_id(p.get("TopicArn"))):
            problems.append(f"subscription {sid}: no invoke permission on {fn} for its topic")
    for cid, config in of_type(resources, "AWS::Lambda::EventInvokeConfig").items():
        p = config.get("Properties", {})
        fn = target_id(p.get("FunctionName"))
        on_failure = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        role = functions.get(fn, {}).get("Properties", {}).get("Role")
        if on_failure and not role_allows(resources, role, "sqs:SendMessage", target_id(on_failure)):
            problems.append(f"{fn}: its role may not send to its on-failure destination")
    for rid, rotation in of_type(resources, "AWS::SecretsManager::RotationSchedule").items():
        fn = target_id(rotation.get("Properties", {}).get("RotationLambdaARN"))
        if not has_invoke_permission(resources, fn, "secretsmanager.amazonaws.com"):
            problems.append(f"rotation {rid}: no scoped invoke permission on {fn} for Secrets Manager")
        secret = target_id(rotation.get("Properties", {}).get("SecretId"))
        role = functions.get(fn, {}).get("Properties", {}).get("Role")
        for action in ROTATION_ACTIONS + ROTATION_EXTRA_ACTIONS.get(fn, ()):
            if secret and not role_allows(resources, role, action, secret):
                problems.append(f"rotation {rid}: {fn} may not {action} on {secret}")
    for fn, parameter in PINNED_SECRETS.items():
        role = functions.get(fn, {}).get("Properties", {}).get("Role")
        for action in PINNED_ACTIONS:
            if fn in functions and not role_allows(resources, role, action, parameter):
                problems.append(f"{fn} may not {action} on {parameter} (the secret it is pinned to)")
    roles = [target_id(f.get("Properties", {}).get("Role")) for f in functions.values()]
    for role in sorted({r for r in roles if roles.count(r) > 1}):
        problems.append(f"role {role} is shared by several functions (each has its own)")
    names = {}
    for rid, res in resources.items():
        prop = NAME_PROPERTIES.get(res.get("Type"))
        name = res.get("Properties", {}).get(prop) if prop else None
        if name is not None:
            key = (res["Type"], json.dumps(name, sort_keys=True))
            if key in names:
                problems.append(f"{rid} and {names[key]}: the same {prop}")
            names[key] = rid
    return problems


# The example on the Secrets Manager user guide's "Secret Label Updated event" page
# (events/aws-samples/secret-label-updated-doc.json), made about an environment's secret.
def label_event(env, label="AWSCURRENT"):
    name = f"macro-ai/{env}/database"
    return {
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Secret Label Updated", "source": "aws.secretsmanager",
        "account": "012345678901", "time": "2024-02-06T16:43:48Z", "region": "us-west-2",
        "resources": [f"arn:aws:secretsmanager:us-west-2:012345678901:secret:{name}-a1b2c3"],
        "detail": {"name": name, "labelUpdated": label,
                   "versionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"},
    }


def pattern_matches(pattern, event):
    """EventBridge's matching for the operators this template uses: exact values and `prefix`.
    Any other operator counts as no match (the check fails rather than guess)."""
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            if not isinstance(got, dict) or not pattern_matches(want, got):
                return False
            continue
        def one(w, v):
            if isinstance(w, dict):
                return set(w) == {"prefix"} and isinstance(v, str) and v.startswith(w["prefix"])
            return w == v
        if not any(one(w, v) for w in as_list(want) for v in as_list(got)):
            return False
    return True


def role_has(resources, role_ref, action):
    return any(action in as_list(st.get("Action")) for st in role_statements(resources, role_ref))


def check_consumers(cfn, env, values):
    resources = cfn.get("Resources", {})
    functions = of_type(resources, "AWS::Lambda::Function")
    problems = []
    env_vars = lambda f: f.get("Properties", {}).get("Environment", {}).get("Variables", {})
    refreshers = [fid for fid, f in functions.items() if "REFRESH_TABLE" in env_vars(f)]
    if len(refreshers) != 1:
        return [f"expected one refresh-consumers function (REFRESH_TABLE), found {len(refreshers)}"]
    refresher = refreshers[0]
    conditions = conditions_of(cfn, values)
    def concrete(v):
        if isinstance(v, dict):
            if set(v) == {"prefix"}:
                return {"prefix": resolve(v["prefix"], values, conditions, resources)}
            return {k: concrete(x) for k, x in v.items()}
        if isinstance(v, list):
            return [concrete(x) for x in v]
        return v
    rules = [concrete(r["Properties"].get("EventPattern", {}))
             for r in of_type(resources, "AWS::Events::Rule").values()
             if refresher in [target_id(t.get("Arn")) for t in r["Properties"].get("Targets", [])]
             and "EventPattern" in r["Properties"]]
    others = [e for e in ENVIRONMENTS if e != env]
    if not any(pattern_matches(p, label_event(env)) for p in rules):
        problems.append(f"{refresher}: no rule matches the documented Secret Label Updated event "
                        f"(AWSCURRENT) for macro-ai/{env}/")
    for p in rules:
        if pattern_matches(p, label_event(env, "CANDIDATE")):
            problems.append(f"{refresher}: its rule matches labels other than AWSCURRENT")
        if any(pattern_matches(p, label_event(o)) for o in others):
            problems.append(f"{refresher}: its rule matches another environment's secrets")
    role = functions[refresher]["Properties"].get("Role")
    for action in ("ecs:UpdateService", "ecs:DescribeServices", "ecs:ListServices",
                   "ecs:DescribeTaskDefinition", "secretsmanager:DescribeSecret",
                   "secretsmanager:TagResource", "dynamodb:PutItem"):
        if not role_has(resources, role, action):
            problems.append(f"{refresher}: its role may not {action}")
    rotators = {target_id(r["Properties"].get("RotationLambdaARN"))
                for r in of_type(resources, "AWS::SecretsManager::RotationSchedule").values()}
    for fid, f in functions.items():
        role = f["Properties"].get("Role")
        if "CONSUMER_CLUSTERS" in env_vars(f):
            for action in ("ecs:ListServices", "ecs:DescribeServices", "ecs:DescribeTaskDefinition"):
                if not role_has(resources, role, action):
                    problems.append(f"{fid}: watches CONSUMER_CLUSTERS but its role may not {action}")
        if fid in rotators:
            if "CONSUMER_CLUSTERS" not in env_vars(f):
                problems.append(f"{fid}: rotates a secret but watches no CONSUMER_CLUSTERS")
            tagging = [st for st in role_statements(resources, role)
                       if "secretsmanager:TagResource" in as_list(st.get("Action"))]
            if not tagging:
                problems.append(f"{fid}: may not record when AWSCURRENT moved (secretsmanager:TagResource)")
            for st in tagging:
                keys = st.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
                if as_list(keys) != ["macro-ai:current-since"]:
                    problems.append(f"{fid}: secretsmanager:TagResource is not limited to the tag "
                                    "macro-ai:current-since (aws:TagKeys)")
    return problems


def all_statements(resources, role_id):
    """Every Allow statement of a role's inline policies, both branches of an `Fn::If` included."""
    role = resources.get(role_id, {})
    for policy in role.get("Properties", {}).get("Policies", []):
        for st in as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
            branches = st["Fn::If"][1:] if isinstance(st, dict) and "Fn::If" in st else [st]
            for b in branches:
                if isinstance(b, dict) and b.get("Effect") == "Allow":
                    yield b


def check_kms(cfn):
    resources = cfn.get("Resources", {})
    topic_keys = set(of_type(resources, "AWS::KMS::Key"))
    problems = []
    standalone = {**of_type(resources, "AWS::IAM::Policy"),
                  **of_type(resources, "AWS::IAM::ManagedPolicy")}
    def statements_of(rid):
        if rid in standalone:
            doc = standalone[rid].get("Properties", {}).get("PolicyDocument", {})
            for entry in as_list(doc.get("Statement", [])):
                for st in unconditional(entry):
                    if st.get("Effect") == "Allow":
                        yield st
        else:
            yield from all_statements(resources, rid)
    for rid in list(of_type(resources, "AWS::IAM::Role")) + list(standalone):
        for st in statements_of(rid):
            if "NotAction" in st:
                problems.append(f"role {rid}: an Allow with NotAction (it may grant the secrets key "
                                "with no condition)")
                continue
            actions = [a for a in as_list(st.get("Action")) if isinstance(a, str)]
            if not any(fnmatch.fnmatchcase(wanted.lower(), a.lower()) for a in actions
                       for wanted in ("kms:Decrypt", "kms:GenerateDataKey")):
                continue
            if all(target_id(r) in topic_keys for r in as_list(st.get("Resource"))):
                continue
            equals = st.get("Condition", {}).get("StringEquals", {})
            via = json.dumps(equals.get("kms:ViaService", ""))
            if "secretsmanager." not in via:
                problems.append(f"role {rid}: uses a secrets key without kms:ViaService "
                                "secretsmanager.<region>.amazonaws.com (it could decrypt anything under it)")
            if not as_list(equals.get("kms:EncryptionContext:SecretARN") or []):
                problems.append(f"role {rid}: uses a secrets key without kms:EncryptionContext:SecretARN "
                                "(it could decrypt any secret under it)")
    return problems


# Who publishes to a topic, by the resource that names it, and the service principal that must be
# able to use the topic's key.
PUBLISHERS = {
    "AWS::CloudWatch::Alarm": ("cloudwatch.amazonaws.com",
                               ["AlarmActions", "OKActions", "InsufficientDataActions"]),
    "AWS::CloudWatch::CompositeAlarm": ("cloudwatch.amazonaws.com",
                                        ["AlarmActions", "OKActions", "InsufficientDataActions"]),
}


def topic_publishers(resources):
    """{topic id: {service principal}} for topics an alarm, a budget or an anomaly subscription
    publishes to."""
    found = {}
    for kind, (principal, props) in PUBLISHERS.items():
        for res in of_type(resources, kind).values():
            for prop in props:
                for ref in as_list(res.get("Properties", {}).get(prop, [])):
                    if target_id(ref) in resources:
                        found.setdefault(target_id(ref), set()).add(principal)
    for res in of_type(resources, "AWS::Budgets::Budget").values():
        for n in res.get("Properties", {}).get("NotificationsWithSubscribers", []):
            for sub in n.get("Subscribers", []):
                if sub.get("SubscriptionType") == "SNS" and target_id(sub.get("Address")):
                    found.setdefault(target_id(sub["Address"]), set()).add("budgets.amazonaws.com")
    for res in of_type(resources, "AWS::CE::AnomalySubscription").values():
        for sub in res.get("Properties", {}).get("Subscribers", []):
            if sub.get("Type") == "SNS" and target_id(sub.get("Address")):
                found.setdefault(target_id(sub["Address"]), set()).add("costalerts.amazonaws.com")
    return found


def key_allows(resources, key_id, principal):
    """The key's policy lets `principal` encrypt for SNS (kms:GenerateDataKey* and kms:Decrypt)."""
    key = resources.get(key_id, {})
    for st in as_list(key.get("Properties", {}).get("KeyPolicy", {}).get("Statement", [])):
        services = as_list(st.get("Principal", {}).get("Service", []))
        actions = as_list(st.get("Action", []))
        if (st.get("Effect") == "Allow" and principal in services
                and any(a in actions for a in ("kms:GenerateDataKey*", "kms:GenerateDataKey"))
                and "kms:Decrypt" in actions):
            return True
    return False


def check_topic_keys(cfn):
    """AWS services cannot publish to a topic encrypted with the AWS managed key (its policy cannot
    admit them): every topic an alarm, a budget or an anomaly subscription publishes to is either
    unencrypted or encrypted with a key of the stack's own whose policy admits each publisher."""
    resources = cfn.get("Resources", {})
    problems = []
    for topic, principals in sorted(topic_publishers(resources).items()):
        key = resources.get(topic, {}).get("Properties", {}).get("KmsMasterKeyId")
        if key is None:
            continue
        if isinstance(key, str):
            problems.append(f"topic {topic}: encrypted with {key}, which {', '.join(sorted(principals))} "
                            "cannot use: publishes would fail")
            continue
        key_id = target_id(key)
        for principal in sorted(principals):
            if not key_allows(resources, key_id, principal):
                problems.append(f"topic {topic}: its key {key_id} does not let {principal} publish")
    return problems


def resolve(value, values, conditions, resources):
    """A name with the stack's parameters and pseudo parameters put in (Ref, Fn::Sub, Fn::If,
    Fn::FindInMap on the template's Mappings); None when it cannot be known offline."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (fn, arg), = value.items()
    if fn == "Ref":
        return values.get(arg)
    if fn == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: resolve(v, values, conditions, resources) for k, v in local.items()}
        def put(m):
            name = m.group(1)
            got = local.get(name, values.get(name))
            return got if got is not None else m.group(0)
        out = re.sub(r"\$\{([^}!]+)\}", put, text)
        return None if "${" in out else out
    if fn == "Fn::If":
        cond, yes, no = arg
        return resolve(yes if conditions.get(cond) else no, values, conditions, resources)
    return None


def conditions_of(cfn, values):
    """The template's conditions, evaluated for these parameter values (Equals, Not, And, Or,
    Condition)."""
    raw = cfn.get("Conditions", {})
    done = {}
    def ev(c):
        if isinstance(c, dict) and len(c) == 1:
            (fn, arg), = c.items()
            if fn == "Fn::Equals":
                a, b = (resolve(x, values, done, {}) for x in arg)
                return a == b
            if fn == "Fn::Not":
                return not ev(arg[0])
            if fn == "Fn::And":
                return all(ev(x) for x in arg)
            if fn == "Fn::Or":
                return any(ev(x) for x in arg)
            if fn == "Condition":
                return named(arg)
        raise ValueError(f"condition {c!r} cannot be evaluated offline")
    def named(name):
        if name not in done:
            done[name] = ev(raw[name])
        return done[name]
    for name in raw:
        named(name)
    return done


def values_of(cfn, env):
    """The parameter and pseudo-parameter values of `env`'s stack (samconfig.toml, defaults)."""
    stack, region, params = environments()[env]
    values = {p: d.get("Default") for p, d in cfn.get("Parameters", {}).items()}
    values.update(params)
    values.update({"AWS::StackName": stack, "AWS::Region": region,
                   "AWS::AccountId": account_of(params), "AWS::Partition": "aws"})
    return values


def check_accounts(expanded, stacks):
    """Stacks that share an account (samconfig's parameters say which) must not create the same
    physical name, nor more than one cost anomaly monitor (AWS allows one per account)."""
    problems = []
    by_account = {}
    for env, cfn in expanded.items():
        stack, region, params = stacks[env]
        values = {p: d.get("Default") for p, d in cfn.get("Parameters", {}).items()}
        values.update(params)
        values.update({"AWS::StackName": stack, "AWS::Region": region,
                       "AWS::AccountId": account_of(params), "AWS::Partition": "aws"})
        conditions = conditions_of(cfn, values)
        resources = cfn.get("Resources", {})
        seen = by_account.setdefault(account_of(params), {})
        for rid, res in resources.items():
            if "Condition" in res and not conditions.get(res["Condition"]):
                continue
            kind = res.get("Type")
            if kind == "AWS::CE::AnomalyMonitor":
                key = ("AnomalyMonitor", "one per account")
            else:
                prop = ACCOUNT_NAME_PROPERTIES.get(kind)
                if prop is None:
                    continue
                props = res.get("Properties", {})
                raw = props.get(prop[0], {}).get(prop[1]) if isinstance(prop, tuple) else props.get(prop)
                name = resolve(raw, values, conditions, resources)
                if name is None:
                    continue
                key = (kind, name)
            if key in seen and seen[key][0] != env:
                problems.append(f"{env} and {seen[key][0]} both create {key[0]} `{key[1]}` "
                                f"({rid}) in account {account_of(params)}")
            seen.setdefault(key, (env, rid))
    return problems


def check_publisher_keys(cfn):
    """A role that publishes to an encrypted topic can use the topic's key (kms:GenerateDataKey):
    without it every publish fails, and notifications are only logged."""
    resources = cfn.get("Resources", {})
    problems = []
    for rid, role in of_type(resources, "AWS::IAM::Role").items():
        ref = {"Ref": rid}
        for st in role_statements(resources, ref):
            if "sns:Publish" not in as_list(st.get("Action")):
                continue
            for topic in [target_id(r) for r in as_list(st.get("Resource"))]:
                key = target_id(resources.get(topic, {}).get("Properties", {}).get("KmsMasterKeyId"))
                if key and not role_allows(resources, ref, "kms:GenerateDataKey", key):
                    problems.append(f"role {rid} publishes to {topic} but may not use its key {key}")
    return problems


def expand_all(template, out_dir=None):
    """{env: expanded template}; writes each to out_dir when given. Raises on a transform error."""
    expanded, failures = {}, []
    for env, (stack, region, params) in environments().items():
        try:
            expanded[env] = transform(template, stack, region, params)
        except TransformFailed as e:
            failures.append(f"{env}: the SAM transform fails: {e}")
            continue
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, f"{env}.json"), "w") as f:
                json.dump(expanded[env], f, indent=1, sort_keys=True)
    if failures:
        raise TransformFailed("\n".join(failures))
    return expanded


def cfn_lint(paths):
    exe = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    run = subprocess.run([exe if os.path.exists(exe) else "cfn-lint", *paths], capture_output=True, text=True)
    return run.returncode, (run.stdout + run.stderr).strip()


def main():
    out_dir = os.path.join(os.environ.get("MACRO_AI_STACK_DIR", os.path.join(ROOT, ".stack")), "expanded")
    try:
        expanded = expand_all(load_template(), out_dir)
    except TransformFailed as e:
        print(e)
        return 1
    problems = []
    for env, cfn in expanded.items():
        problems += [f"{env}: {p}" for p in
                     check_wiring(cfn) + check_topic_keys(cfn) + check_publisher_keys(cfn)
                     + check_consumers(cfn, env, values_of(cfn, env)) + check_kms(cfn)]
    problems += check_accounts(expanded, environments())
    problems += check_parameters(load_template(), environments())
    paths = [os.path.join(out_dir, f"{env}.json") for env in expanded]
    status, output = cfn_lint(paths)
    if status != 0:
        problems.append("cfn-lint on the expanded templates:\n" + output)
    if problems:
        print(f"deploy check: {len(problems)} problem(s)")
        for p in problems:
            print("  - " + p)
        return 1
    counts = {env: len(cfn["Resources"]) for env, cfn in expanded.items()}
    print("deploy check: the SAM transform succeeds for " + ", ".join(
        f"{env} ({n} resources)" for env, n in counts.items())
        + "; cfn-lint clean on each; rules, schedules, subscriptions, destinations and rotations wired;"
        " each rotation function allowed every call it makes on its secrets;"
        " the Secret Label Updated rule and the consumers' IAM in place; the secrets key only via"
        " Secrets Manager for named secrets;"
        " every topic AWS services publish to has a key they can use; no two environments create"
        " one name in one account")
    return 0


# --- proof that each check can fail -----------------------------------------------------------


def self_test():
    """Break the template the ways that matter and require each check to say so."""
    base = load_template()
    stack, region, params = environments()["dev"]
    passed, failures = [], []

    def expect(label, ok):
        print(f"  {'ok  ' if ok else 'FAIL'} {label}")
        (passed if ok else failures).append(label)

    def events_of(t):
        for rid, res in t["Resources"].items():
            for eid, ev in res.get("Properties", {}).get("Events", {}).items():
                yield rid, eid, ev

    # 1. The defect of issue 10: `Type` and `Arn` together in an event's DeadLetterConfig.
    broken = copy.deepcopy(base)
    rid, eid, ev = next((r, e, v) for r, e, v in events_of(broken) if "DeadLetterConfig" in v["Properties"])
    ev["Properties"]["DeadLetterConfig"]["Type"] = "SQS"
    try:
        transform(broken, stack, region, params)
        expect("a DeadLetterConfig with both Type and Arn fails the transform", False)
    except TransformFailed as e:
        expect("a DeadLetterConfig with both Type and Arn fails the transform: "
               + str(e).split("; ")[0], "either define 'Arn' or 'Type'" in str(e))

    good = transform(base, stack, region, params)
    expect("the template as it is passes the wiring checks", check_wiring(good) == [])

    # 2. A rule's dead letters with no queue policy admitting it.
    broken = copy.deepcopy(good)
    for policy in of_type(broken["Resources"], "AWS::SQS::QueuePolicy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            st["Principal"]["Service"] = [s for s in as_list(st["Principal"]["Service"])
                                          if s != "events.amazonaws.com"]
    expect("a rule whose dead-letter queue does not admit it is reported",
           any("no policy letting this rule send" in p for p in check_wiring(broken)))

    # 3. A rule without its invoke permission.
    broken = copy.deepcopy(good)
    perms = [k for k, v in of_type(broken["Resources"], "AWS::Lambda::Permission").items()
             if v["Properties"].get("Principal") == "events.amazonaws.com"]
    del broken["Resources"][perms[0]]
    expect("a rule without an invoke permission is reported",
           any("no invoke permission" in p for p in check_wiring(broken)))

    # 3b. A rule that drops undeliverable events.
    broken = copy.deepcopy(good)
    for rule in of_type(broken["Resources"], "AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            target.pop("DeadLetterConfig", None)
    expect("a rule without a dead-letter queue is reported",
           any("no dead-letter queue" in p for p in check_wiring(broken)))

    # 4. A schedule's role without sqs:SendMessage on its dead-letter queue.
    broken = copy.deepcopy(good)
    for sched in of_type(broken["Resources"], "AWS::Scheduler::Schedule").values():
        role = broken["Resources"][target_id(sched["Properties"]["Target"]["RoleArn"])]
        role["Properties"]["Policies"] = [
            p for p in role["Properties"]["Policies"]
            if not any("sqs:SendMessage" in as_list(s.get("Action")) for s in
                       as_list(p["PolicyDocument"]["Statement"]))]
    expect("a schedule whose role cannot send its dead letters is reported",
           any("may not send to dead-letter queue" in p for p in check_wiring(broken)))

    # 4b. A rotation function that may not make one of its calls (issue 22: the key age of
    #     rotate-app-secrets reads ListSecretVersionIds).
    broken = copy.deepcopy(good)
    for role in of_type(broken["Resources"], "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            for st in as_list(policy["PolicyDocument"]["Statement"]):
                st["Action"] = [a for a in as_list(st.get("Action"))
                                if a != "secretsmanager:ListSecretVersionIds"]
    expect("a rotation role without ListSecretVersionIds is reported",
           any("may not secretsmanager:ListSecretVersionIds" in p for p in check_wiring(broken)))

    broken = copy.deepcopy(good)
    for role in of_type(broken["Resources"], "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            for entry in as_list(policy["PolicyDocument"]["Statement"]):
                for st in unconditional(entry):
                    if "RedisAdminSecretArn" not in resource_ids(st.get("Resource")):
                        continue
                    st["Action"] = [a for a in as_list(st.get("Action"))
                                    if a != "secretsmanager:DescribeSecret"]
    expect("a Redis role that may read but not describe its admin secret is reported",
           any("may not secretsmanager:DescribeSecret on RedisAdminSecretArn" in p
               for p in check_wiring(broken)))

    # 5. Two resources with one physical name.
    broken = copy.deepcopy(good)
    logs = list(of_type(broken["Resources"], "AWS::Logs::LogGroup").values())
    logs[1]["Properties"]["LogGroupName"] = logs[0]["Properties"]["LogGroupName"]
    expect("two log groups with one name are reported",
           any("the same LogGroupName" in p for p in check_wiring(broken)))

    # 7. A topic CloudWatch alarms publish to, encrypted with the AWS managed key (issue 14).
    expect("the template as it is passes the topic-key check", check_topic_keys(good) == [])
    broken = copy.deepcopy(good)
    alarm_topics = [t for t, p in topic_publishers(broken["Resources"]).items()
                    if "cloudwatch.amazonaws.com" in p]
    broken["Resources"][alarm_topics[0]]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    expect("an alarm topic encrypted with alias/aws/sns is reported",
           any("cannot use" in p for p in check_topic_keys(broken)))
    broken = copy.deepcopy(good)
    for key in of_type(broken["Resources"], "AWS::KMS::Key").values():
        for st in key["Properties"]["KeyPolicy"]["Statement"]:
            services = as_list(st.get("Principal", {}).get("Service", []))
            if "budgets.amazonaws.com" in services:
                st["Principal"]["Service"] = [x for x in services if x != "budgets.amazonaws.com"]
    expect("a topic key that does not admit AWS Budgets is reported",
           any("budgets.amazonaws.com" in p for p in check_topic_keys(broken)))

    # 7b. A function that publishes to an encrypted topic without its key.
    expect("every publisher can use its topic's key", check_publisher_keys(good) == [])
    broken = copy.deepcopy(good)
    for role in of_type(broken["Resources"], "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            doc = policy["PolicyDocument"]
            doc["Statement"] = [st for st in as_list(doc["Statement"])
                                if "kms:GenerateDataKey" not in as_list(st.get("Action"))]
    expect("a publisher without kms:GenerateDataKey on its topic's key is reported",
           any("may not use its key" in p for p in check_publisher_keys(broken)))

    # 7c. The consumers of secrets (issue 21).
    expect("the template as it is passes the consumers check",
           check_consumers(good, "dev", values_of(good, "dev")) == [])
    def consumers_broken(change):
        broken = copy.deepcopy(good)
        change(broken["Resources"])
        return check_consumers(broken, "dev", values_of(broken, "dev"))
    def label(label):
        def change(resources):
            for rule in of_type(resources, "AWS::Events::Rule").values():
                detail = rule["Properties"].get("EventPattern", {}).get("detail", {})
                if "labelUpdated" in detail:
                    detail["labelUpdated"] = label
        return change
    expect("a rule on AWSPENDING (never sent) is reported",
           any("no rule matches" in p for p in consumers_broken(label(["AWSPENDING"]))))
    expect("a rule on every label is reported",
           any("other than AWSCURRENT" in p for p in consumers_broken(label([{"prefix": ""}]))))
    def any_env(resources):
        for rule in of_type(resources, "AWS::Events::Rule").values():
            detail = rule["Properties"].get("EventPattern", {}).get("detail", {})
            if "name" in detail:
                detail["name"] = [{"prefix": "macro-ai/"}]
    expect("a rule on every environment's secrets is reported",
           any("another environment" in p for p in consumers_broken(any_env)))
    def drop(action, sid=None):
        def change(resources):
            for role in of_type(resources, "AWS::IAM::Role").values():
                for policy in role["Properties"].get("Policies", []):
                    doc = policy["PolicyDocument"]
                    for st in as_list(doc["Statement"]):
                        st["Action"] = [a for a in as_list(st.get("Action")) if a != action]
                    doc["Statement"] = [st for st in as_list(doc["Statement"]) if st["Action"]]
        return change
    expect("a watcher that may not read task definitions is reported",
           any("may not ecs:DescribeTaskDefinition" in p
               for p in consumers_broken(drop("ecs:DescribeTaskDefinition"))))
    expect("a refresh that may not redeploy is reported",
           any("may not ecs:UpdateService" in p for p in consumers_broken(drop("ecs:UpdateService"))))
    def any_tag(resources):
        for role in of_type(resources, "AWS::IAM::Role").values():
            for policy in role["Properties"].get("Policies", []):
                for st in as_list(policy["PolicyDocument"]["Statement"]):
                    if "secretsmanager:TagResource" in as_list(st.get("Action")):
                        st.pop("Condition", None)
    expect("tagging a secret with any key is reported",
           any("not limited to the tag" in p for p in consumers_broken(any_tag)))

    # 7d. The secrets key without its conditions (issue 22).
    expect("the template as it is passes the KMS scope check", check_kms(good) == [])
    for condition in ("kms:ViaService", "kms:EncryptionContext:SecretARN"):
        broken = copy.deepcopy(good)
        for rid in of_type(broken["Resources"], "AWS::IAM::Role"):
            for st in all_statements(broken["Resources"], rid):
                st.get("Condition", {}).get("StringEquals", {}).pop(condition, None)
        expect(f"a role that uses the secrets key without {condition} is reported",
               any(condition in p for p in check_kms(broken)))

    broken = copy.deepcopy(good)
    for rid in of_type(broken["Resources"], "AWS::IAM::Role"):
        for st in all_statements(broken["Resources"], rid):
            if "kms:Decrypt" in as_list(st.get("Action")) and "Condition" in st:
                st["Action"] = ["kms:Decrypt*", "kms:Gen*"]
                st.pop("Condition")
    expect("a role that uses the secrets key by wildcard actions without conditions is reported",
           any("kms:ViaService" in p for p in check_kms(broken)))

    # 7e. A secret ARN parameter without its six random characters (a partial ARN).
    stacks = environments()
    expect("every environment's parameters match their patterns",
           check_parameters(base, stacks) == [])
    partial = {env: (st, rg, dict(pr, JwtSecretArn=pr["JwtSecretArn"].rsplit("-", 1)[0]))
               for env, (st, rg, pr) in stacks.items()}
    expect("a partial secret ARN parameter is reported",
           any("JwtSecretArn" in p for p in check_parameters(base, partial)))

    # 8. Two environments' stacks in one account creating one name (issue 14: every stack made
    #    all three budgets), or two anomaly monitors.
    stacks = environments()
    expanded = {env: transform(base, *stacks[env]) for env in ("dev", "staging")}
    expect("dev and staging in one account share no name", check_accounts(expanded, stacks) == [])
    broken_t = copy.deepcopy(base)
    broken_t["Resources"]["MonthlyBudget"]["Properties"]["Budget"]["BudgetName"] = "macro-ai-monthly"
    broken = {env: transform(broken_t, *stacks[env]) for env in ("dev", "staging")}
    expect("a budget name two environments share is reported",
           any("macro-ai-monthly" in p for p in check_accounts(broken, stacks)))
    both = {env: (st, rg, dict(pr, CreateAnomalyMonitor="true")) for env, (st, rg, pr) in stacks.items()}
    expect("two anomaly monitors in one account are reported",
           any("AnomalyMonitor" in p for p in check_accounts(expanded, both)))

    # 6. cfn-lint reads the expanded template (a generated resource with an invalid property).
    broken = copy.deepcopy(good)
    next(iter(of_type(broken["Resources"], "AWS::Lambda::Function").values()))["Properties"]["MemorySize"] = 1
    path = os.path.join(os.environ.get("MACRO_AI_STACK_DIR", os.path.join(ROOT, ".stack")), "broken.json")
    with open(path, "w") as f:
        json.dump(broken, f)
    status, _ = cfn_lint([path])
    os.remove(path)
    expect("cfn-lint fails an expanded template with a generated function of 1 MB", status != 0)

    print(f"deploy check self-test: {len(passed)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv[1:] else main())
