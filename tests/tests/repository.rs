//! The claims that can drift apart between the code, the template and the docs, checked (no
//! stack needed): every variable a function reads is in docs/configuration.md's table, the
//! template sets only variables its function reads and every required one; every file under
//! `events/` is used; every metric the dashboard names is one the code emits
//! (`shared::telemetry::CATALOGUE`), and every function's errors and duration are on it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Variables a function cannot start without; the check gives them a value so that
/// `from_lookup` reads everything else.
const REQUIRED: [&str; 4] = [
    "ROLLBACK_TABLE",
    "BUDGET_EVENTS_TABLE",
    "REFRESH_TABLE",
    "CONSUMER_CLUSTERS",
];

/// Set by Lambda itself, never by the template.
const LAMBDA_SETS: [&str; 1] = ["AWS_LAMBDA_FUNCTION_NAME"];

fn file(path: &str) -> String {
    let full = tests::root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// What `from_lookup` asks for, with only the required variables set; it must succeed, so that
/// nothing was skipped after an early error.
fn reads(from_lookup: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> bool) -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    let lookup = |k: &str| {
        seen.borrow_mut().insert(k.to_string());
        REQUIRED.contains(&k).then(|| "a-table".to_string())
    };
    assert!(from_lookup(&lookup), "the configuration must load");
    seen.into_inner()
}

/// Every function: its name, its resource in the template, and the variables it reads.
fn functions() -> Vec<(&'static str, &'static str, BTreeSet<String>)> {
    vec![
        (
            "rotate-postgres",
            "RotatePostgresFunction",
            reads(|get| rotate_postgres::Config::from_lookup(get).is_ok()),
        ),
        (
            "rotate-redis",
            "RotateRedisFunction",
            reads(|get| rotate_redis::Config::from_lookup(get).is_ok()),
        ),
        (
            "rotate-openai-key",
            "RotateOpenAiKeyFunction",
            reads(|get| rotate_openai_key::Config::from_lookup(get).is_ok()),
        ),
        (
            "rotate-app-secrets",
            "RotateAppSecretsFunction",
            reads(|get| rotate_app_secrets::Config::from_lookup(get).is_ok()),
        ),
        (
            "after-hours-scaling",
            "AfterHoursScalingFunction",
            reads(|get| after_hours_scaling::Config::from_lookup(get).is_ok()),
        ),
        (
            "alarm-rollback",
            "AlarmRollbackFunction",
            reads(|get| alarm_rollback::Config::from_lookup(get).is_ok()),
        ),
        (
            "budget-response",
            "BudgetResponseFunction",
            reads(|get| budget_response::Config::from_lookup(get).is_ok()),
        ),
        (
            "refresh-consumers",
            "RefreshConsumersFunction",
            reads(|get| refresh_consumers::Config::from_lookup(get).is_ok()),
        ),
    ]
}

/// The lines of a top-level resource of the template (indented two spaces).
fn resource<'a>(template: &'a str, logical_id: &str) -> Vec<&'a str> {
    let start = format!("  {logical_id}:");
    let mut lines = template.lines().skip_while(|l| *l != start);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{logical_id} is not in template.yaml"));
    std::iter::once(first)
        .chain(lines.take_while(|l| {
            l.is_empty() || l.starts_with("   ") || l.trim_start().starts_with('#')
        }))
        .collect()
}

/// The environment variables a resource's lines set (keys in capitals under `Variables:`).
fn variables_set(lines: &[&str]) -> BTreeSet<String> {
    let Some(at) = lines.iter().position(|l| l.trim() == "Variables:") else {
        return BTreeSet::new();
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[at]);
    lines[at + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .take_while(|l| indent(l) > base)
        .filter(|l| indent(l) == base + 2)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .filter(|k| {
            k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

/// The configuration table (`docs/configuration.md`): function → the variables its rows name.
fn readme_rows() -> BTreeMap<String, BTreeSet<String>> {
    let section = file("docs/configuration.md");
    assert!(
        section.starts_with("# Configuration\n"),
        "docs/configuration.md starts with its title"
    );
    let section = section.as_str();
    let mut rows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (function, variable) = (cells[1].trim_matches('`'), cells[2].trim_matches('`'));
        rows.entry(function.to_string())
            .or_default()
            .insert(variable.to_string());
    }
    rows
}

#[test]
fn every_variable_a_function_reads_is_documented_and_the_template_sets_only_what_is_read() {
    let template = file("template.yaml");
    let readme = readme_rows();
    let globals = resource(&template, "Function")
        .into_iter()
        .take_while(|l| !l.starts_with("Resources:"))
        .collect::<Vec<_>>();
    assert!(
        variables_set(&globals).is_empty(),
        "Globals set variables for every function, which not every function reads"
    );
    for (function, logical_id, read) in functions() {
        assert!(
            read.len() >= 3,
            "{function} reads {read:?}: the recording lookup is broken"
        );
        let documented = readme.get(function).cloned().unwrap_or_default();
        assert_eq!(
            read, documented,
            "{function}: the variables it reads (left) and docs/configuration.md's rows (right)"
        );
        let set = variables_set(&resource(&template, logical_id));
        for variable in &set {
            assert!(
                read.contains(variable),
                "{logical_id} sets {variable}, which {function} never reads"
            );
        }
        for variable in REQUIRED.iter().filter(|v| read.contains(**v)) {
            assert!(
                set.contains(*variable),
                "{logical_id} does not set the required {variable}"
            );
        }
        for variable in LAMBDA_SETS {
            assert!(
                !set.contains(variable),
                "{logical_id} sets {variable}, which Lambda sets"
            );
        }
    }
}

#[test]
fn every_sample_event_is_used_by_a_test_or_the_demo() {
    let root = tests::root();
    let mut sources = vec![file("scripts/demo")];
    for dir in ["tests/tests", "tests/src", "tests/src/bin"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(&path).expect("a source"));
            }
        }
    }
    let mut unused = Vec::new();
    let mut count = 0;
    for dir in std::fs::read_dir(root.join("events")).expect("events/") {
        let dir = dir.expect("an entry").path();
        let dir_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        for event in std::fs::read_dir(&dir).expect("an events folder") {
            let name = event
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .to_string();
            if name.ends_with(".md") {
                continue;
            }
            count += 1;
            // Named with its folder (`budget-response/x.json`), or in a source that names the
            // folder (a table of one folder's files, the demo's loops).
            let used = sources.iter().any(|s| {
                s.contains(&format!("{dir_name}/{name}"))
                    || (s.contains(&name) && s.contains(&format!("\"{dir_name}")))
                    || (s.contains(&format!("events/{dir_name}/")) && s.contains(&name))
            });
            if !used {
                unused.push(format!("events/{dir_name}/{name}"));
            }
        }
    }
    assert!(count > 40, "only {count} sample events found");
    assert!(
        unused.is_empty(),
        "sample events no test or demo uses: {unused:?}"
    );
}

#[test]
fn the_dashboard_names_only_metrics_the_code_emits_and_every_function() {
    let template = file("template.yaml");
    let dashboard = resource(&template, "Dashboard").join("\n");
    // Every custom metric is read through a SEARCH over `{MacroAiOps,<dimensions>}` and a name.
    let mut seen = BTreeSet::new();
    let mut references = 0;
    for (at, _) in dashboard.match_indices("{MacroAiOps,") {
        references += 1;
        let rest = &dashboard[at + "{MacroAiOps,".len()..];
        let (dims, after) = rest.split_once('}').expect("a closed schema");
        let name = after
            .strip_prefix(" MetricName=\\\"")
            .and_then(|n| n.split_once("\\\""))
            .map(|(n, _)| n)
            .unwrap_or_else(|| panic!("a schema without MetricName: {}", &rest[..40]));
        let dims: BTreeSet<&str> = dims.split(',').collect();
        let known = shared::telemetry::CATALOGUE
            .iter()
            .any(|(n, d)| *n == name && d.iter().copied().collect::<BTreeSet<_>>() == dims);
        assert!(
            known,
            "the dashboard reads {name} by {dims:?}, which the code never emits"
        );
        seen.insert(name);
    }
    assert_eq!(references, dashboard.matches("{MacroAiOps").count());
    let emitted: BTreeSet<&str> = shared::telemetry::CATALOGUE
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        seen, emitted,
        "every metric the code emits is on the dashboard"
    );
    for (function, logical_id, _) in functions() {
        for metric in ["Errors", "Duration"] {
            let line =
                format!("[\"AWS/Lambda\", \"{metric}\", \"FunctionName\", \"${{{logical_id}}}\"]");
            assert!(
                dashboard.contains(&line),
                "{function}'s {metric} is not on the dashboard"
            );
        }
    }
}

/// The front page stays a front page, and every `docs/…` file it or a doc names exists (the
/// detail moved to `docs/` in the house's second pass; a rename must not leave a dead link).
#[test]
fn the_readme_is_short_and_every_docs_link_resolves() {
    let readme = file("README.md");
    assert!(
        readme.lines().count() < 200,
        "README.md has {} lines: detail belongs in docs/",
        readme.lines().count()
    );
    let root = tests::root();
    let mut texts = vec![("README.md".to_string(), readme)];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("an entry").path();
        let name = format!(
            "docs/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        texts.push((name.clone(), file(&name)));
    }
    let mut dead = Vec::new();
    for (name, text) in &texts {
        for (i, _) in text.match_indices("docs/") {
            let link: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/-_.".contains(*c))
                .collect();
            let link = link.trim_end_matches('.');
            if link.ends_with(".md") && !root.join(link).is_file() {
                dead.push(format!("{name}: {link}"));
            }
        }
    }
    assert!(dead.is_empty(), "links to missing docs: {dead:?}");
}

/// The domain never imports an adapter: outside `shared/src/aws/` (the SDK adapters) and
/// `lambda.rs` (the runtime's wiring), no file of `shared` names `crate::aws` or an AWS SDK
/// crate. The ports are traits in the domain; the function crates plug the adapters in.
#[test]
fn no_domain_module_imports_an_adapter() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = tests::root().join("shared/src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut found = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .to_string();
        if rel.starts_with("aws/") || rel == "lambda.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if ["crate::aws", "aws_sdk_", "aws_smithy", "aws_config"]
                .iter()
                .any(|a| code.contains(a))
            {
                found.push(format!("shared/src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "the domain imports adapters: {found:#?}");
}

/// Each function is built from only what it uses (`shared`'s features, docs/layout.md): its
/// dependency tree, as cargo resolves it for that package alone (how `sam build` builds it, from
/// the function's folder), holds exactly the heavy clients of the backends and services it calls.
/// And every crate all functions share has one feature set in all of them (shared/Cargo.toml's
/// alignment), so `sam build` compiles the SDK stack once, not once per function group.
#[test]
fn each_function_compiles_only_the_clients_it_calls() {
    const HEAVY: [&str; 6] = [
        "sqlx-core",
        "redis",
        "aws-sdk-elasticache",
        "reqwest",
        "aws-sdk-applicationautoscaling",
        "aws-sdk-dynamodb",
    ];
    let expected: [(&str, &[&str]); 8] = [
        ("rotate-postgres", &["sqlx-core"]),
        ("rotate-redis", &["redis", "aws-sdk-elasticache"]),
        ("rotate-openai-key", &["reqwest"]),
        ("rotate-app-secrets", &[]),
        ("after-hours-scaling", &["aws-sdk-applicationautoscaling"]),
        (
            "budget-response",
            &["aws-sdk-applicationautoscaling", "aws-sdk-dynamodb"],
        ),
        (
            "alarm-rollback",
            &["aws-sdk-applicationautoscaling", "aws-sdk-dynamodb"],
        ),
        ("refresh-consumers", &["aws-sdk-dynamodb"]),
    ];
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut wrong = Vec::new();
    let mut trees: Vec<(&str, BTreeMap<String, BTreeSet<String>>)> = Vec::new();
    for (function, wanted) in expected {
        let out = std::process::Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "--locked",
                "-e",
                "normal,build",
                "--prefix",
                "none",
            ])
            .args(["-f", "{p}|{f}", "-p"])
            .arg(function)
            .current_dir(tests::root())
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree -p {function}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        // `name vX.Y.Z (path)|feature,feature`, one per crate and kind of use: a crate both
        // built for the host (a build script's) and linked may have two sets.
        let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (package, features) in tree.lines().filter_map(|line| line.split_once('|')) {
            let mut words = package.split_whitespace();
            let id = format!(
                "{} {}",
                words.next().unwrap_or_default(),
                words.next().unwrap_or_default()
            );
            // A crate seen before ends in ` (*)`.
            let features = features.trim_end_matches(" (*)").to_string();
            crates.entry(id).or_default().insert(features);
        }
        let has: BTreeSet<&str> = crates
            .keys()
            .filter_map(|id| id.split_whitespace().next())
            .filter(|name| HEAVY.contains(name))
            .collect();
        let wanted: BTreeSet<&str> = wanted.iter().copied().collect();
        if has != wanted {
            wrong.push(format!("{function}: has {has:?}, should have {wanted:?}"));
        }
        trees.push((function, crates));
    }
    // Every crate two or more functions share: one feature set (or pair of sets) in all of them.
    let mut uses: BTreeMap<&String, BTreeSet<&BTreeSet<String>>> = BTreeMap::new();
    for (_, crates) in &trees {
        for (id, sets) in crates {
            uses.entry(id).or_default().insert(sets);
        }
    }
    let unaligned: Vec<String> = uses
        .iter()
        .filter(|(id, sets)| !id.starts_with("shared ") && sets.len() > 1)
        .map(|(id, sets)| format!("{id}: {sets:?}"))
        .collect();
    assert!(
        unaligned.is_empty(),
        "crates with a different feature set per function (align them in shared/Cargo.toml): \
         {unaligned:#?}"
    );
    // Every function folder is listed above, so a new one is checked too.
    let folders = std::fs::read_dir(tests::root().join("functions"))
        .expect("functions/")
        .count();
    assert_eq!(
        folders,
        expected.len(),
        "a function missing from this check"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}
