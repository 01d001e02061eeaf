//! OpenAI as a rotation backend. We cannot generate OpenAI keys, so a new key comes from an
//! operator (staged under the label `CANDIDATE`) or is minted through the Admin API as a project
//! service account named after the rotation's token. Either way the key is promoted only after
//! `GET /v1/models` accepts it; finishSecret revokes this secret's minted keys older than
//! AWSPREVIOUS, and never a key minted for another secret in the same project.

use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;
use tracing::{info, warn};

pub use super::accounts::{SERVICE_ACCOUNT_PREFIX, account_name, secret_tag};
use super::accounts::{legacy_version, version_of};
pub use super::key::{KeySecret, redact};
use crate::config::ConfigError;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, BackendError, BackendErrorKind, CreateContext, CredentialBackend,
    Finished, Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::secret::SecretString;

/// The label an operator puts on a new key before starting a rotation.
pub const CANDIDATE: &str = "CANDIDATE";
/// Where minted keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintOptions {
    /// A secret holding an OpenAI admin key (plain or `{"apiKey"}`).
    pub admin_key_secret_arn: String,
    pub project_id: String,
}

/// The function's OpenAI settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiOptions {
    pub base_url: String,
    pub timeout: Duration,
    pub mint: Option<MintOptions>,
}

/// The OpenAI rotation backend; its HTTP client is built once, at cold start.
#[derive(Clone)]
pub struct OpenAiBackend {
    http: reqwest::Client,
    options: OpenAiOptions,
}

#[derive(Deserialize)]
struct ServiceAccount {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct ServiceAccountPage {
    data: Vec<ServiceAccount>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct MintedKey {
    value: String,
}

#[derive(Deserialize)]
struct CreatedServiceAccount {
    id: String,
    api_key: Option<MintedKey>,
}

impl OpenAiBackend {
    pub fn new(options: OpenAiOptions) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent("macro-ai-ops")
            .build()
            .map_err(|e| ConfigError::new("OPENAI_BASE_URL", format!("HTTP client: {e}")))?;
        Ok(Self { http, options })
    }

    /// The live check: `GET /v1/models` with `key` must answer 200.
    async fn check_key(&self, key: &SecretString, label: &str) -> Result<(), BackendError> {
        let shown = redact(key);
        let response = self
            .http
            .get(format!("{}/v1/models", self.options.base_url))
            .bearer_auth(key.expose())
            .send()
            .await
            .map_err(|e| {
                BackendError::with_source(
                    BackendErrorKind::Unavailable,
                    format!(
                        "OpenAI could not be reached to check the {label} key {shown}; retry later"
                    ),
                    e.without_url(),
                )
            })?;
        let status = response.status();
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(BackendError::new(
                BackendErrorKind::LoginRefused,
                format!(
                    "OpenAI refused the {label} key {shown} ({status}): it is invalid or revoked \
                     and will not be promoted"
                ),
            )),
            StatusCode::TOO_MANY_REQUESTS => Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "OpenAI rate-limited the check of the {label} key {shown} (429); retry later"
                ),
            )),
            s if s.is_server_error() => Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!(
                    "OpenAI failed while checking the {label} key {shown} ({status}); retry later"
                ),
            )),
            _ => Err(BackendError::new(
                BackendErrorKind::Failed,
                format!("OpenAI answered {status} to the check of the {label} key {shown}"),
            )),
        }
    }

    async fn admin_key<S: SecretStore>(
        &self,
        store: &S,
        mint: &MintOptions,
    ) -> Result<SecretString, BackendError> {
        let raw = store
            .get(&mint.admin_key_secret_arn, VersionRef::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| {
                BackendError::invalid_secret(format!(
                    "the admin key secret `{}` has no AWSCURRENT value",
                    mint.admin_key_secret_arn
                ))
            })?;
        Ok(KeySecret::parse(&raw, "the admin key secret")?.key)
    }

    fn accounts_url(&self, mint: &MintOptions) -> String {
        format!(
            "{}/v1/organization/projects/{}/service_accounts",
            self.options.base_url, mint.project_id
        )
    }

    async fn admin_call(
        &self,
        request: reqwest::RequestBuilder,
        admin: &SecretString,
        what: &str,
    ) -> Result<reqwest::Response, BackendError> {
        let response = request
            .bearer_auth(admin.expose())
            .send()
            .await
            .map_err(|e| {
                BackendError::with_source(
                    BackendErrorKind::Unavailable,
                    format!("OpenAI's Admin API could not be reached to {what}"),
                    e.without_url(),
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let kind = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            BackendErrorKind::Unavailable
        } else {
            BackendErrorKind::Failed
        };
        Err(BackendError::new(
            kind,
            format!("OpenAI's Admin API answered {status} when asked to {what}"),
        ))
    }

    /// Every service account of the project (all pages).
    async fn service_accounts(
        &self,
        mint: &MintOptions,
        admin: &SecretString,
    ) -> Result<Vec<ServiceAccount>, BackendError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = self
                .http
                .get(self.accounts_url(mint))
                .query(&[("limit", "100")]);
            if let Some(a) = &after {
                request = request.query(&[("after", a.as_str())]);
            }
            let page: ServiceAccountPage = self
                .admin_call(request, admin, "list service accounts")
                .await?
                .json()
                .await
                .map_err(|e| {
                    BackendError::with_source(
                        BackendErrorKind::Failed,
                        "OpenAI's service account list could not be read",
                        e.without_url(),
                    )
                })?;
            let more = page.has_more && page.last_id.is_some();
            after = page.last_id;
            all.extend(page.data);
            if !more || all.len() > 10_000 {
                return Ok(all);
            }
        }
    }

    async fn delete_account(
        &self,
        mint: &MintOptions,
        admin: &SecretString,
        account: &ServiceAccount,
    ) -> Result<(), BackendError> {
        let url = format!("{}/{}", self.accounts_url(mint), account.id);
        self.admin_call(self.http.delete(url), admin, "delete a service account")
            .await?;
        Ok(())
    }

    /// A key minted for version `token` of `secret_arn`: one service account per version,
    /// however often createSecret is retried.
    async fn mint<S: SecretStore>(
        &self,
        store: &S,
        mint: &MintOptions,
        secret_arn: &str,
        token: &str,
    ) -> Result<SecretString, BackendError> {
        let admin = self.admin_key(store, mint).await?;
        let name = account_name(secret_arn, token);
        // An old-style orphan of this very token; never a name that only looks like one.
        let legacy = legacy_version(token).map(|t| format!("{SERVICE_ACCOUNT_PREFIX}{t}"));
        // A retried createSecret that minted but could not store the key finds its account
        // here. OpenAI shows a key only once, so that account is replaced, never duplicated.
        for orphan in self
            .service_accounts(mint, &admin)
            .await?
            .iter()
            .filter(|a| a.name == name || Some(&a.name) == legacy.as_ref())
        {
            warn!(service_account = %orphan.id, "replacing a key minted by an interrupted createSecret");
            self.delete_account(mint, &admin, orphan).await?;
        }
        let created: CreatedServiceAccount = self
            .admin_call(
                self.http
                    .post(self.accounts_url(mint))
                    .json(&serde_json::json!({"name": name})),
                &admin,
                "create a service account",
            )
            .await?
            .json()
            .await
            .map_err(|e| {
                BackendError::with_source(
                    BackendErrorKind::Failed,
                    "OpenAI's new service account could not be read",
                    e.without_url(),
                )
            })?;
        let key = created
            .api_key
            .map(|k| SecretString::new(k.value))
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Failed,
                    "OpenAI created a service account without an API key",
                )
            })?;
        info!(service_account = %created.id, key = %redact(&key), "minted a project service account key");
        Ok(key)
    }

    /// The operator's staged candidate, or an error that says exactly how to stage one.
    async fn staged_candidate<S: SecretStore>(
        &self,
        store: &S,
        secret_id: &str,
        token: &str,
    ) -> Result<SecretString, BackendError> {
        let raw = store
            .get(secret_id, VersionRef::Stage(CANDIDATE))
            .await?
            .ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::NeedsOperator,
                    operator_runbook(secret_id, token),
                )
            })?;
        Ok(KeySecret::parse(&raw, "the CANDIDATE version")?.key)
    }
}

impl CredentialBackend for OpenAiBackend {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let current = KeySecret::parse(current, AWSCURRENT)?;
        let key = match &self.options.mint {
            Some(mint) => {
                self.mint(ctx.store, mint, ctx.secret_arn, ctx.token)
                    .await?
            }
            None => {
                self.staged_candidate(ctx.store, ctx.secret_id, ctx.token)
                    .await?
            }
        };
        if key == current.key {
            return Err(BackendError::new(
                BackendErrorKind::NeedsOperator,
                format!(
                    "the {CANDIDATE} key {} is already AWSCURRENT: stage a new key",
                    redact(&key)
                ),
            ));
        }
        Ok(current.with_key(&key))
    }

    async fn set_pending<S: SecretStore>(
        &self,
        _store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        // An OpenAI key is live the moment it exists; there is nothing to install. The shapes
        // are still checked, so a broken pending value fails here and not at finish.
        KeySecret::parse(&staged.current, AWSCURRENT)?;
        KeySecret::parse(&staged.pending, AWSPENDING)?;
        Ok(SetOutcome::AlreadyInPlace)
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let pending = KeySecret::parse(pending, AWSPENDING)?;
        self.check_key(&pending.key, AWSPENDING).await
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        let current = KeySecret::parse(current, AWSCURRENT)?;
        self.check_key(&current.key, AWSCURRENT).await
    }

    /// Minted keys: finishSecret revokes the accounts older than AWSPREVIOUS's. A staged key is
    /// revoked by an operator, in OpenAI's dashboard.
    fn retirement(&self, _current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(if self.options.mint.is_some() {
            Retirement::AtFinish
        } else {
            Retirement::Never
        })
    }

    async fn after_finish<S: SecretStore>(
        &self,
        store: &S,
        finished: &Finished<'_>,
    ) -> Result<Option<String>, BackendError> {
        let secret_id = finished.secret_id;
        let Some(mint) = &self.options.mint else {
            // Staged mode: the promoted candidate's label is spent; a newer one stays.
            let Some(version) = finished.description.version_with(CANDIDATE) else {
                return Ok(None);
            };
            let current = store
                .get(secret_id, VersionRef::Id(finished.current))
                .await?;
            let candidate = store.get(secret_id, VersionRef::Id(version)).await?;
            let same = match (current, candidate) {
                (Some(c), Some(k)) => {
                    KeySecret::parse(&c, AWSCURRENT)?.key == KeySecret::parse(&k, CANDIDATE)?.key
                }
                _ => false,
            };
            if !same {
                return Ok(None);
            }
            store
                .move_stage(secret_id, CANDIDATE, None, Some(version))
                .await?;
            return Ok(Some(format!(
                "label {CANDIDATE} removed from the promoted key's version"
            )));
        };
        // Kept: the version just promoted and the one it replaced, as finishSecret knew them.
        let keep = [Some(finished.current), finished.previous];
        let admin = self.admin_key(store, mint).await?;
        let stale: Vec<ServiceAccount> = self
            .service_accounts(mint, &admin)
            .await?
            .into_iter()
            .filter(|a| {
                version_of(&a.name, finished.secret_arn, finished.description)
                    .is_some_and(|v| !keep.contains(&Some(v)))
            })
            .collect();
        for account in &stale {
            self.delete_account(mint, &admin, account).await?;
            info!(service_account = %account.id, name = %account.name, "revoked a key older than AWSPREVIOUS");
        }
        Ok((!stale.is_empty()).then(|| {
            format!(
                "{} minted key(s) older than AWSPREVIOUS revoked in project {}",
                stale.len(),
                mint.project_id
            )
        }))
    }
}

/// What an operator runs when no key is staged, on real Secrets Manager. The failed createSecret
/// leaves AWSPENDING on this rotation's (empty) version, and AWS then refuses every RotateSecret
/// ("A previous rotation isn't complete") until that label is removed. moto checks a pending
/// rotation the other way round, so only this text, not a moto test, shows the AWS sequence.
fn operator_runbook(secret_id: &str, token: &str) -> String {
    format!(
        "no new OpenAI key to rotate to; AWSCURRENT is unchanged. 1) Create a key in the OpenAI \
         dashboard and stage it: `aws secretsmanager put-secret-value --secret-id {secret_id} \
         --secret-string <new key> --version-stages {CANDIDATE}`. 2) This attempt left AWSPENDING \
         on the empty version {token}; remove it: `aws secretsmanager update-secret-version-stage \
         --secret-id {secret_id} --version-stage AWSPENDING --remove-from-version-id {token}`. \
         3) `aws secretsmanager rotate-secret --secret-id {secret_id}`. If rotate-secret still \
         answers \"A previous rotation isn't complete\", an older attempt holds AWSPENDING: find \
         its version with `aws secretsmanager describe-secret --secret-id {secret_id} --query \
         VersionIdsToStages` (the id whose labels are [\"AWSPENDING\"] alone) and remove the \
         label from it with the command of step 2; a key stored in that version is never \
         promoted. To stop staging keys by hand, set OPENAI_ADMIN_KEY_SECRET_ARN and \
         OPENAI_PROJECT_ID so keys are minted"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::SecretDescription;

    #[test]
    fn given_two_secrets_in_one_project_then_each_recognises_only_its_own_accounts() {
        let dev = "arn:aws:secretsmanager:us-east-1:111111111111:secret:macro-ai/dev/openai-api-key-AbCdEf";
        let staging = "arn:aws:secretsmanager:us-east-1:111111111111:secret:macro-ai/staging/openai-api-key-XyZ123";
        let old = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let mut known = SecretDescription::default();
        known.versions.insert(old.into(), vec![]);
        known
            .versions
            .insert("v-now".into(), vec!["AWSCURRENT".into()]);
        let none = SecretDescription::default();
        assert_eq!(version_of(&account_name(dev, "v1"), dev, &none), Some("v1"));
        assert_eq!(version_of(&account_name(staging, "v1"), dev, &none), None);
        // The old naming: this secret's when the version is one of its own UUIDs, else nobody's.
        assert_eq!(
            version_of(&format!("macro-ai-ops-{old}"), dev, &known),
            Some(old)
        );
        assert_eq!(version_of("macro-ai-ops-v-other", dev, &known), None);
        // Someone with PutSecretValue on dev makes a version whose id is staging's account name
        // minus the prefix: it still is not dev's.
        let forged = account_name(staging, old);
        let forged_id = forged.strip_prefix(SERVICE_ACCOUNT_PREFIX).unwrap();
        known
            .versions
            .insert(forged_id.into(), vec!["FORGED".into()]);
        assert_eq!(version_of(&forged, dev, &known), None);
        assert_eq!(version_of("someone-else", dev, &known), None);
        assert_ne!(secret_tag(dev), secret_tag(staging));
        assert_eq!(secret_tag(dev).len(), 8);
    }

    #[test]
    fn given_no_candidate_then_the_runbook_names_the_version_to_unblock() {
        let text = operator_runbook("arn:s", "tok-1");
        for part in [
            "--version-stages CANDIDATE",
            "--version-stage AWSPENDING --remove-from-version-id tok-1",
            "rotate-secret --secret-id arn:s",
            "A previous rotation isn't complete",
            "describe-secret --secret-id arn:s --query VersionIdsToStages",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }
}
