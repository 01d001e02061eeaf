"""Checks of template.yaml that cfn-lint and `sam validate --lint` do not make.

- Every AWS::Serverless::Function (after Globals) runs on provided.al2023 with handler bootstrap,
  its architecture is the `Architecture` parameter (whose values are arm64 and x86_64, default
  arm64), it is built with rust-cargolambda from a binary named after a folder under functions/,
  and it logs JSON to a log group of its own.
- Every function under functions/ is in the template.
- No IAM statement allows an action on Resource "*" unless AWS cannot scope that action (the
  list below says why for each).

    python scripts/check_template.py [template.yaml]     (exit 1 and a list of problems)
"""

import os
import sys

from cfnlint.decode import cfn_yaml

# Actions that have no resource-level permissions (or, for App Auto Scaling, whose scalable-target
# ARNs carry a random id unknown at deploy time). Each is scoped otherwise where AWS allows it.
UNSCOPABLE = {
    "secretsmanager:GetRandomPassword": "not a resource action: it generates a string",
    "ecs:ListServices": "resource is *, narrowed to the named clusters by the ecs:cluster condition",
    "ecs:ListTaskDefinitions": "list actions on task definitions support no resource",
    "ecs:DescribeTaskDefinition": "supports no resource-level permission (it reads no service or secret value)",
    "application-autoscaling:DescribeScalableTargets": "describe actions support no resource",
    "application-autoscaling:RegisterScalableTarget": "scalable-target ARNs end in a random id, unknown to the template",
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def statements(policies):
    for policy in policies or []:
        if isinstance(policy, dict) and "Statement" in policy:
            for st in policy["Statement"]:
                # Conditional statements: !If [cond, statement, AWS::NoValue]
                if isinstance(st, dict) and "Fn::If" in st:
                    for branch in st["Fn::If"][1:]:
                        if isinstance(branch, dict) and "Effect" in branch:
                            yield branch
                elif isinstance(st, dict):
                    yield st


def as_list(v):
    return v if isinstance(v, list) else [v]


def main(path):
    t = cfn_yaml.load(path)
    problems = []
    glob = t.get("Globals", {}).get("Function", {})
    arch = t.get("Parameters", {}).get("Architecture", {})
    if sorted(arch.get("AllowedValues", [])) != ["arm64", "x86_64"] or arch.get("Default") != "arm64":
        problems.append("parameter Architecture must allow arm64 and x86_64 and default to arm64")
    folders = sorted(d for d in os.listdir(os.path.join(ROOT, "functions"))
                     if os.path.isfile(os.path.join(ROOT, "functions", d, "Cargo.toml")))
    built = []
    for name, res in t.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = dict(glob)
        props.update(res.get("Properties", {}))
        if not name.endswith("Function"):
            problems.append(f"{name}: logical ids of functions end in Function")
        if props.get("Runtime") != "provided.al2023":
            problems.append(f"{name}: Runtime must be provided.al2023, not {props.get('Runtime')}")
        if props.get("Handler") != "bootstrap":
            problems.append(f"{name}: Handler must be bootstrap")
        if props.get("Architectures") != [{"Ref": "Architecture"}]:
            problems.append(f"{name}: Architectures must be [!Ref Architecture]")
        meta = res.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        if meta.get("BuildMethod") != "rust-cargolambda" or binary not in folders:
            problems.append(f"{name}: must build with rust-cargolambda a binary under functions/ (has {binary})")
        if props.get("CodeUri") != f"functions/{binary}":
            # From the workspace root, cargo would build the binary with every function's
            # features of `shared` unified: all backends in every function.
            problems.append(f"{name}: CodeUri must be functions/{binary}, the crate's own folder "
                            f"(has {props.get('CodeUri')})")
        built.append(binary)
        if props.get("LoggingConfig", {}).get("LogFormat") != "JSON":
            problems.append(f"{name}: LoggingConfig.LogFormat must be JSON")
        for st in statements(props.get("Policies")):
            if st.get("Effect") != "Allow":
                continue
            if "*" in as_list(st.get("Resource")):
                for action in as_list(st.get("Action")):
                    if action not in UNSCOPABLE:
                        problems.append(f"{name}: {action} on Resource \"*\" (scope it, or justify it in UNSCOPABLE)")
    for missing in sorted(set(folders) - set(built)):
        problems.append(f"functions/{missing} is not deployed by the template")
    if problems:
        print("template.yaml: " + str(len(problems)) + " problem(s)")
        for p in problems:
            print("  - " + p)
        return 1
    print(f"template.yaml: {len(built)} functions checked (runtime, handler, architecture, build, "
          f"JSON logs, own CodeUri); Resource \"*\" only for {len(UNSCOPABLE)} unscopable actions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "template.yaml")))
