//! How an ECS task definition names a secret (`secrets[].valueFrom`, a log configuration's
//! `secretOptions[].valueFrom`, `repositoryCredentials.credentialsParameter`), and whether a
//! reference is to a given secret. ECS resolves every such reference once, when a container
//! starts; each documented form is read here:
//!
//! - the full ARN: `arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf`;
//! - the ARN followed by `:<json-key>:<version-stage>:<version-id>` (each may be empty);
//! - the partial ARN, without the 6-character suffix Secrets Manager adds;
//! - the name alone (a secret in the task's own region and account);
//! - Parameter Store's reference to a Secrets Manager secret,
//!   `/aws/reference/secretsmanager/<name>` (or that parameter's ARN).
//!
//! A reference is compared with the secret's full ARN and name exactly, never by prefix:
//! `…:secret:db-master` is not `db` with the suffix `master`.

use super::super::rotation::AWSCURRENT;

/// The secret a rotation changed, as DescribeSecret names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretIdentity {
    /// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`.
    pub arn: String,
    pub name: String,
}

/// Which value of the secret a matching reference gives a container that starts now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follows {
    /// AWSCURRENT (no stage and no version, or the stage `AWSCURRENT`): a new task reads the
    /// new value.
    Current,
    /// A staging label other than AWSCURRENT (`AWSPREVIOUS`, a label of one's own).
    Stage(String),
    /// One version, by id: a new task reads that version whatever the labels say.
    Version(String),
}

impl Follows {
    /// How a notice says it.
    pub fn describe(&self) -> String {
        match self {
            Follows::Current => "AWSCURRENT".into(),
            Follows::Stage(s) => format!("the stage {s}"),
            Follows::Version(v) => format!("the version {v}"),
        }
    }
}

const SSM_REFERENCE: &str = "/aws/reference/secretsmanager/";

impl SecretIdentity {
    /// The identity from a full ARN and name; `None` when the ARN is not a Secrets Manager
    /// secret's.
    pub fn new(arn: &str, name: &str) -> Option<Self> {
        let parts = ArnParts::parse(arn)?;
        (parts.service == "secretsmanager" && parts.kind == "secret" && !name.is_empty()).then(
            || Self {
                arn: arn.to_string(),
                name: name.to_string(),
            },
        )
    }

    /// What `value_from` gives a container if it names this secret; `None` when it names
    /// anything else (another secret, a parameter, another region or account).
    pub fn referenced_by(&self, value_from: &str) -> Option<Follows> {
        let value_from = value_from.trim();
        if let Some(name) = value_from.strip_prefix(SSM_REFERENCE) {
            return (name == self.name).then_some(Follows::Current);
        }
        if !value_from.starts_with("arn:") {
            return (value_from == self.name).then_some(Follows::Current);
        }
        let ours = ArnParts::parse(&self.arn)?;
        let theirs = ArnParts::parse(value_from)?;
        if (theirs.partition, theirs.region, theirs.account)
            != (ours.partition, ours.region, ours.account)
        {
            return None;
        }
        match (theirs.service, theirs.kind) {
            ("ssm", _) => {
                // `arn:…:ssm:…:parameter/aws/reference/secretsmanager/<name>`.
                let rest = value_from.splitn(6, ':').nth(5)?;
                let name = rest
                    .strip_prefix("parameter")?
                    .strip_prefix(SSM_REFERENCE)?;
                (name == self.name).then_some(Follows::Current)
            }
            ("secretsmanager", "secret") => {
                let mut fields = theirs.rest.split(':');
                let resource = fields.next()?;
                let own_resource = ours.rest.split(':').next()?;
                if resource != own_resource && resource != self.name {
                    return None;
                }
                let _json_key = fields.next();
                let stage = fields.next().unwrap_or_default();
                let version = fields.next().unwrap_or_default();
                if fields.next().is_some() {
                    return None;
                }
                Some(if !version.is_empty() {
                    Follows::Version(version.to_string())
                } else if stage.is_empty() || stage == AWSCURRENT {
                    Follows::Current
                } else {
                    Follows::Stage(stage.to_string())
                })
            }
            _ => None,
        }
    }
}

/// `arn:<partition>:<service>:<region>:<account>:<kind>:<rest>` (or `<kind>/<rest>`).
struct ArnParts<'a> {
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    kind: &'a str,
    rest: &'a str,
}

impl<'a> ArnParts<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        let (kind, rest) = match resource.split_once(':') {
            Some((kind, rest)) => (kind, rest),
            None => resource.split_once('/').unwrap_or((resource, "")),
        };
        Some(Self {
            partition,
            service,
            region,
            account,
            kind,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEf";

    fn db() -> SecretIdentity {
        SecretIdentity::new(ARN, "macro-ai/dev/database").expect("a secret ARN")
    }

    #[test]
    fn given_every_documented_form_then_each_names_the_secret_and_says_what_it_reads() {
        let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database";
        for (value_from, follows) in [
            (ARN.to_string(), Follows::Current),
            (format!("{ARN}:url::"), Follows::Current),
            (format!("{ARN}:password:AWSCURRENT:"), Follows::Current),
            (format!("{ARN}::AWSCURRENT"), Follows::Current),
            (format!("{ARN}::AWSPREVIOUS:"), Follows::Stage("AWSPREVIOUS".into())),
            (format!("{ARN}:url:CANDIDATE:"), Follows::Stage("CANDIDATE".into())),
            (format!("{ARN}:::v-1"), Follows::Version("v-1".into())),
            (format!("{ARN}:url:AWSCURRENT:v-1"), Follows::Version("v-1".into())),
            (partial.to_string(), Follows::Current),
            (format!("{partial}:username::"), Follows::Current),
            ("macro-ai/dev/database".to_string(), Follows::Current),
            (" macro-ai/dev/database ".to_string(), Follows::Current),
            (
                "/aws/reference/secretsmanager/macro-ai/dev/database".to_string(),
                Follows::Current,
            ),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/aws/reference/secretsmanager/macro-ai/dev/database".to_string(),
                Follows::Current,
            ),
        ] {
            assert_eq!(db().referenced_by(&value_from), Some(follows), "{value_from}");
        }
    }

    #[test]
    fn given_other_secrets_parameters_regions_and_accounts_then_nothing_matches() {
        for value_from in [
            // Another secret whose name extends ours: not ours with a suffix.
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-master",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-master-XyZ123",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEg",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/databas",
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:macro-ai/dev/database-AbCdEf",
            "arn:aws:secretsmanager:us-east-1:210987654321:secret:macro-ai/dev/database-AbCdEf",
            "arn:aws-cn:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEf",
            "arn:aws:ssm:us-east-1:123456789012:parameter/macro-ai/dev/database",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:macro-ai/dev/database-AbCdEf:a:b:c:d",
            "macro-ai/dev/database-master",
            "macro-ai/dev",
            "/aws/reference/secretsmanager/macro-ai/dev/redis",
            "/macro-ai/dev/database",
            "",
            "arn:",
            "arn:aws:secretsmanager",
        ] {
            assert_eq!(db().referenced_by(value_from), None, "{value_from}");
        }
    }

    #[test]
    fn given_identities_then_only_secret_arns_make_one() {
        assert!(SecretIdentity::new(ARN, "macro-ai/dev/database").is_some());
        assert!(SecretIdentity::new("arn:aws:ssm:us-east-1:1:parameter/x", "x").is_none());
        assert!(SecretIdentity::new("macro-ai/dev/database", "macro-ai/dev/database").is_none());
        assert!(SecretIdentity::new(ARN, "").is_none());
    }
}
