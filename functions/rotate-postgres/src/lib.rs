//! `rotate-postgres`: Secrets Manager rotation of the Macro AI database secret. The protocol is
//! `shared::rotation`, the backend `shared::postgres`; this crate holds the function's
//! configuration and wiring.

use shared::aws::secrets_manager::SecretsManagerStore;
use shared::config::{self, ConfigError};
use shared::consumers::{NoConsumers, WatchConfig};
use shared::notify::Silent;
use shared::postgres::{PostgresBackend, PostgresOptions, SslMode};
use shared::rotation::{PasswordPolicy, Rotator};

/// The rotator this function runs: the protocol and its backend; deployed, it also watches the
/// services that consume the secret (`PostgresRotator<EcsConsumers, SnsNotifier>`, main.rs).
pub type PostgresRotator<C = NoConsumers, N = Silent> =
    Rotator<SecretsManagerStore, PostgresBackend, C, N>;

/// Everything the function reads from its environment, read once at cold start.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub passwords: PasswordPolicy,
    pub postgres: PostgresOptions,
    /// The services that consume the secret, and whom to tell about them.
    pub watch: WatchConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(config::process_env)
    }

    /// Every variable the function reads (docs/configuration.md lists them too):
    ///
    /// | variable | default |
    /// |---|---|
    /// | `PASSWORD_LENGTH` | 32 (16 to 4096) |
    /// | `EXCLUDE_CHARACTERS` | ``:/@"'\` `` and the backtick |
    /// | `DB_CONNECT_TIMEOUT_SECONDS` | 5 (1 to 60) |
    /// | `PG_STATEMENT_TIMEOUT_SECONDS` | 5 (1 to 300) |
    /// | `PG_MIN_SSLMODE` | `require` |
    /// | `PG_SSL_ROOT_CERT` | unset: the public roots only |
    /// | `PG_HOST`, `PG_PORT` | unset: the secret's own host (AWSPREVIOUS and the master only at theirs), 5432 |
    /// | `DB_MASTER_SECRET_ARN` | unset: the alternating strategy refused |
    /// | `CONSUMER_CLUSTERS` | unset: no consumer is watched (the template sets the stack's cluster) |
    /// | `NOTIFY_TOPIC_ARN` | unset (no notification) |
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let passwords = config::password_policy(&get)?;
        let min_sslmode = match config::text(&get, "PG_MIN_SSLMODE") {
            None => SslMode::Require,
            Some(v) => SslMode::parse(&v).ok_or_else(|| {
                ConfigError::new(
                    "PG_MIN_SSLMODE",
                    "must be disable, prefer, require, verify-ca or verify-full",
                )
            })?,
        };
        let port = config::port(&get, "PG_PORT", 5432)?;
        Ok(Self {
            watch: WatchConfig::from_lookup(&get)?,
            passwords,
            postgres: PostgresOptions {
                connect_timeout: config::seconds(&get, "DB_CONNECT_TIMEOUT_SECONDS", 5, 1..=60)?,
                statement_timeout: config::seconds(
                    &get,
                    "PG_STATEMENT_TIMEOUT_SECONDS",
                    5,
                    1..=300,
                )?,
                ssl_root_cert: config::text(&get, "PG_SSL_ROOT_CERT").map(Into::into),
                min_sslmode,
                pinned: config::pin(&get, "PG_HOST")?.map(|host| (host, port)),
                master_secret_arn: config::pin(&get, "DB_MASTER_SECRET_ARN")?,
            },
        })
    }
}

/// The rotator without its watch of consumers (main adds it, from `config.watch`), from a
/// Secrets Manager client made once per cold start.
pub fn rotator(client: aws_sdk_secretsmanager::Client, config: Config) -> PostgresRotator {
    Rotator::new(
        SecretsManagerStore::new(client),
        PostgresBackend::new(config.postgres),
        config.passwords,
    )
}

#[cfg(test)]
mod tests {
    use super::Config;
    use shared::postgres::SslMode;

    #[test]
    fn given_the_environment_then_the_pin_the_floor_the_master_and_the_policy_are_read() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            (
                c.postgres.min_sslmode,
                c.postgres.pinned,
                c.postgres.master_secret_arn
            ),
            (SslMode::Require, None, None)
        );
        assert_eq!(
            (c.passwords.length, c.passwords.exclude_characters.as_str()),
            (32, ":/@\"'\\`")
        );
        let c = Config::from_lookup(|k| match k {
            "PG_HOST" => Some("db.internal".into()),
            "PG_PORT" => Some("6543".into()),
            "PG_MIN_SSLMODE" => Some("verify-full".into()),
            "DB_MASTER_SECRET_ARN" => Some("arn:master".into()),
            "PASSWORD_LENGTH" => Some("40".into()),
            "EXCLUDE_CHARACTERS" => Some("".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.postgres.pinned, Some(("db.internal".into(), 6543)));
        assert_eq!(c.postgres.min_sslmode, SslMode::VerifyFull);
        assert_eq!(c.postgres.master_secret_arn.as_deref(), Some("arn:master"));
        assert_eq!(
            (c.passwords.length, c.passwords.exclude_characters.as_str()),
            (40, "")
        );
    }

    #[test]
    fn given_bad_values_then_the_variable_is_named() {
        for (variable, bad) in [
            ("PG_MIN_SSLMODE", "allow"),
            ("PG_PORT", "0"),
            ("DB_CONNECT_TIMEOUT_SECONDS", "soon"),
            ("PASSWORD_LENGTH", "8"),
            ("PASSWORD_LENGTH", "99999"),
            ("PG_HOST", "   "),
        ] {
            let err =
                Config::from_lookup(|k| (k == variable).then(|| bad.to_string())).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}
