//! The rotation of application keys: `previous`, the signing key and `next`, each version
//! checked against AWSCURRENT before it is promoted.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::keys::*;
use super::signing::*;
use crate::rotation::{
    AWSCURRENT, AWSPENDING, BackendError, CreateContext, CredentialBackend, PasswordPolicy,
    Retirement, SecretStore, SetOutcome, Staged, VersionRef,
};
use crate::secret::{Fields, SecretString};

/// The rotation backend for application keys.
#[derive(Debug, Clone)]
pub struct AppSecretsBackend {
    options: AppSecretOptions,
}

impl AppSecretsBackend {
    pub fn new(options: AppSecretOptions) -> Self {
        Self { options }
    }

    /// Validation's check of a value (also the fuzz target's entry): a JSON object whose
    /// configured keys are keys.
    pub fn check_value(&self, value: &SecretString) -> Result<(), BackendError> {
        self.check_shape(&Self::object(value, AWSCURRENT)?, AWSCURRENT)
    }

    /// The secret's JSON object; errors name fields, never values.
    fn object(raw: &SecretString, label: &str) -> Result<Map<String, Value>, BackendError> {
        Ok(Fields::parse(raw, label, "{\"accessTokenSecret\": \"...\"} (named keys)")?.into_map())
    }

    /// The configured keys this secret has: a JWT secret has its token keys, a cookie secret
    /// its cookie key; which fields are rotated comes from the secret, how from configuration.
    fn present<'a>(
        &'a self,
        fields: &Map<String, Value>,
        label: &str,
    ) -> Result<Vec<&'a KeySpec>, BackendError> {
        let present: Vec<&KeySpec> = self
            .options
            .keys
            .iter()
            .filter(|k| fields.contains_key(&k.name))
            .collect();
        if present.is_empty() {
            return Err(BackendError::invalid_secret(format!(
                "{label} has none of the configured keys ({}; APP_SECRET_KEYS)",
                self.options
                    .keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(present)
    }

    /// Every rotated field of the secret of its length and alphabet; `previous` and `next`, when
    /// there, objects of strings, and a `next` key of its field's length and alphabet.
    fn check_shape(&self, fields: &Map<String, Value>, label: &str) -> Result<(), BackendError> {
        for spec in self.present(fields, label)? {
            match fields.get(&spec.name) {
                Some(Value::String(v)) if spec.accepts(v) => {}
                Some(Value::String(_)) => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label}: `{}` is not {}",
                        spec.name,
                        spec.describe()
                    )));
                }
                Some(_) => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label}: `{}` must be a string",
                        spec.name
                    )));
                }
                None => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label} has no `{}`",
                        spec.name
                    )));
                }
            }
        }
        for (field, what) in [
            (PREVIOUS, "the keys it replaced"),
            (NEXT, "the keys that replace them"),
        ] {
            match fields.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::Object(keys)) if keys.values().all(Value::is_string) => {}
                Some(_) => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label}: `{field}` must be an object of {what}"
                    )));
                }
            }
        }
        // A `next` key becomes the signing key: it must be a key of its field.
        for spec in self.present(fields, label)? {
            if let Some(next) = fields.get(NEXT).and_then(|n| n.get(&spec.name))
                && !next.as_str().is_some_and(|v| spec.accepts(v))
            {
                return Err(BackendError::invalid_secret(format!(
                    "{label}: `{NEXT}.{}` is not {}",
                    spec.name,
                    spec.describe()
                )));
            }
        }
        Ok(())
    }

    /// The rotation interval must cover the longest token life: a token signed just before one
    /// rotation must still verify (through `previous`) until it expires, and the next rotation
    /// drops that key.
    fn check_interval(&self, interval_days: Option<u64>) -> Result<(), BackendError> {
        let max_hours = self.options.token_max_age.as_secs() / 3600;
        // A `rate(N days)` rotation may happen anywhere in a window that runs to the end of the
        // UTC day, so two rotations can be N-1 days apart.
        let safe_days = max_hours.div_ceil(24) + 1;
        match interval_days {
            Some(days) if days.saturating_sub(1).saturating_mul(24) >= max_hours => Ok(()),
            Some(days) => Err(BackendError::refused(format!(
                "the secret rotates every {days} day(s), but tokens live up to {max_hours} h \
                 (TOKEN_MAX_AGE_HOURS): a token signed two keys ago would be rejected; rotate \
                 every {safe_days} days or more"
            ))),
            None => Err(BackendError::refused(format!(
                "the secret's rotation interval is not known (no rotation rules, or a cron \
                 schedule): set rate({safe_days} days) or AutomaticallyAfterDays >= {safe_days} \
                 so tokens never outlive the key that signed them"
            ))),
        }
    }

    /// AWSCURRENT must have been in the secret for `min_key_age` (since its version was created,
    /// or moved to, whichever is later): the key it replaced is about to be dropped, and tokens
    /// it signed may still be alive.
    fn check_age(&self, since: Option<jiff::Timestamp>) -> Result<(), BackendError> {
        if self.options.min_key_age.is_zero() {
            return Ok(());
        }
        let Some(at) = since else {
            // ListSecretVersionIds always gives CreatedDate; without it the age is unknown, and
            // an unknown age is not old enough.
            return Err(BackendError::refused(
                "when AWSCURRENT's version was created is unknown (ListSecretVersionIds gave no                  CreatedDate for it): the keys it replaces may still sign live tokens                  (MIN_KEY_AGE_HOURS)",
            ));
        };
        let age = jiff::Timestamp::now().duration_since(at);
        let min = jiff::SignedDuration::try_from(self.options.min_key_age)
            .unwrap_or(jiff::SignedDuration::MAX);
        if age >= min {
            return Ok(());
        }
        Err(BackendError::refused(format!(
            "the current keys have been current for {} h only (since {at}); a rotation now \
             would drop keys that tokens signed up to {} h ago still use (MIN_KEY_AGE_HOURS). If a \
             key leaked, revoke it instead: put a new value without `previous` (everyone signs in \
             again)",
            age.as_hours(),
            self.options.token_max_age.as_secs() / 3600
        )))
    }

    /// AWSPENDING was made from AWSCURRENT as it was then; if AWSCURRENT was rewritten since (an
    /// operator's edit, a revocation), promoting AWSPENDING would undo it: drop a field added
    /// since, trust a key revoked since as `previous`, or drop the key now current. So AWSPENDING
    /// must be AWSCURRENT-now's successor: every field but the rotated keys, `previous` and `next`
    /// the same; the same rotated keys; each signing with AWSCURRENT's `next` (or, where there
    /// was none, the same key and `previous`), keeping AWSCURRENT's key as `previous`, and
    /// publishing a new `next`.
    fn check_successor(
        &self,
        current: &Map<String, Value>,
        pending: &Map<String, Value>,
    ) -> Result<(), BackendError> {
        let changed = |what: String| {
            Err(BackendError::refused(format!(
                "{what}: AWSCURRENT changed after this rotation's AWSPENDING was made from it; \
                 nothing is promoted. Cancel this rotation (remove AWSPENDING from its version) \
                 and start a new one"
            )))
        };
        let rotated = |name: &str| {
            name == PREVIOUS || name == NEXT || self.options.keys.iter().any(|k| k.name == name)
        };
        let others = |map: &Map<String, Value>| -> Map<String, Value> {
            map.iter()
                .filter(|(k, _)| !rotated(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        if others(current) != others(pending) {
            return changed("a field other than the keys differs".into());
        }
        // `previous` keeps the keys this function does not rotate as they were (an app may
        // still list them): one removed since (revoked) is not put back.
        let kept_others = |map: &Map<String, Value>| -> Map<String, Value> {
            match map.get(PREVIOUS) {
                Some(Value::Object(old)) => others(old),
                _ => Map::new(),
            }
        };
        if kept_others(current) != kept_others(pending) {
            return changed("a key of `previous` this function does not rotate differs".into());
        }
        let names = |map: &Map<String, Value>| -> Vec<String> {
            self.options
                .keys
                .iter()
                .filter(|k| map.contains_key(&k.name))
                .map(|k| k.name.clone())
                .collect()
        };
        if names(current) != names(pending) {
            return changed("the set of keys differs".into());
        }
        let get = |map: &Map<String, Value>, path: &[&str]| -> Option<Value> {
            let mut v = map.get(path[0])?;
            for p in &path[1..] {
                v = v.get(*p)?;
            }
            Some(v.clone())
        };
        for k in names(pending) {
            let k = k.as_str();
            let signs = get(pending, &[k]);
            let kept = get(pending, &[PREVIOUS, k]);
            let published = get(pending, &[NEXT, k]);
            let follows = match get(current, &[NEXT, k]) {
                Some(current_next) => {
                    signs.as_ref() == Some(&current_next) && kept == get(current, &[k])
                }
                None => signs == get(current, &[k]) && kept == get(current, &[PREVIOUS, k]),
            };
            let fresh = published.is_some() && published != signs && published != kept;
            if !follows || !fresh {
                return changed(format!(
                    "`{k}` is not AWSCURRENT's successor (it must sign with AWSCURRENT's `next`, \
                     keep AWSCURRENT's key as `previous` and publish a new `next`)"
                ));
            }
        }
        Ok(())
    }

    async fn new_key<S: SecretStore>(
        store: &S,
        spec: &KeySpec,
    ) -> Result<SecretString, BackendError> {
        match &spec.format {
            KeyFormat::Printable { exclude } => Ok(store
                .random_password(&PasswordPolicy {
                    length: spec.length as u16,
                    exclude_characters: exclude.clone(),
                })
                .await?),
            KeyFormat::Hex => Ok(SecretString::new(hex::encode(random_bytes(
                spec.length / 2,
            )?))),
            // length/4*3 bytes encode to exactly `length` characters, no padding.
            KeyFormat::Base64 => Ok(SecretString::new(
                base64::engine::general_purpose::STANDARD
                    .encode(random_bytes(spec.length / 4 * 3)?),
            )),
        }
    }
}

impl CredentialBackend for AppSecretsBackend {
    fn name(&self) -> &'static str {
        "app-secrets"
    }

    /// The promotion itself: the new version no longer carries the key before `previous`, so a
    /// task that still signs with it is refused by every task started after it.
    fn retirement(&self, _current: &SecretString) -> Result<Retirement, BackendError> {
        Ok(Retirement::AtFinish)
    }

    async fn create_pending<S: SecretStore>(
        &self,
        ctx: &CreateContext<'_, S>,
        current: &SecretString,
    ) -> Result<SecretString, BackendError> {
        let mut fields = Self::object(current, AWSCURRENT)?;
        // The whole value first (keys and `previous`): nothing is staged from a malformed one.
        self.check_shape(&fields, AWSCURRENT)?;
        self.check_interval(ctx.rotation_interval_days)?;
        self.check_age(ctx.current_since().await?)?;
        let rotated = self.present(&fields, AWSCURRENT)?;
        let mut previous = match fields.remove(PREVIOUS) {
            Some(Value::Object(old)) => old,
            _ => Map::new(),
        };
        let mut next = match fields.remove(NEXT) {
            Some(Value::Object(old)) => old,
            _ => Map::new(),
        };
        for spec in &rotated {
            let fresh = Value::String(Self::new_key(ctx.store, spec).await?.expose().to_string());
            // `next` published with AWSCURRENT signs now, and the key it replaces is kept as
            // `previous`. Without one (the seed's shape), this version only publishes a `next`
            // and keeps signing with the same key, so no task started before it is refused.
            if let Some(published) = next.insert(spec.name.clone(), fresh)
                && let Some(replaced) = fields.insert(spec.name.clone(), published)
            {
                previous.insert(spec.name.clone(), replaced);
            }
        }
        // `next` holds the rotated keys only; other keys of `previous` are kept (an app may
        // still list them).
        next.retain(|k, _| rotated.iter().any(|s| &s.name == k));
        if !previous.is_empty() {
            fields.insert(PREVIOUS.into(), Value::Object(previous));
        }
        fields.insert(NEXT.into(), Value::Object(next));
        Ok(SecretString::new(Value::Object(fields).to_string()))
    }

    async fn set_pending<S: SecretStore>(
        &self,
        _store: &S,
        staged: &Staged,
    ) -> Result<SetOutcome, BackendError> {
        let pending = Self::object(&staged.pending, AWSPENDING)?;
        self.check_shape(&pending, AWSPENDING)?;
        let current = Self::object(&staged.current, AWSCURRENT)?;
        self.check_successor(&current, &pending)?;
        Ok(SetOutcome::Installed {
            change: "nothing to set: application keys live only in the secret; apps read the \
                     new version (with `previous`) after finishSecret"
                .into(),
        })
    }

    /// The check of setSecret again, on AWSCURRENT as it is right before the move: a change
    /// between setSecret and finishSecret (a revocation) is not undone by the promotion.
    async fn before_promote<S: SecretStore>(
        &self,
        store: &S,
        secret_id: &str,
        token: &str,
    ) -> Result<(), BackendError> {
        let read = |version| async move {
            store
                .get(secret_id, version)
                .await?
                .ok_or_else(|| BackendError::invalid_secret("a version to compare has no value"))
        };
        let current = read(VersionRef::Stage(AWSCURRENT)).await?;
        let pending = read(VersionRef::Version {
            id: token,
            stage: AWSPENDING,
        })
        .await?;
        self.check_successor(
            &Self::object(&current, AWSCURRENT)?,
            &Self::object(&pending, AWSPENDING)?,
        )
    }

    async fn test_pending(&self, pending: &SecretString) -> Result<(), BackendError> {
        let fields = Self::object(pending, AWSPENDING)?;
        self.check_shape(&fields, AWSPENDING)?;
        let message = b"macro-ai-ops testSecret: header.payload";
        for spec in self.present(&fields, AWSPENDING)? {
            let of = |field: &str| {
                fields
                    .get(field)
                    .and_then(|f| f.get(&spec.name))
                    .and_then(Value::as_str)
            };
            let key = fields[&spec.name].as_str().unwrap_or_default();
            let (prev, next) = (of(PREVIOUS), of(NEXT));
            let accepted: Vec<&str> = [Some(key), prev, next].into_iter().flatten().collect();
            // What this version signs verifies; what the version before signed (`previous`) and
            // the version after will sign (`next`) verify too; any other key does not, and the
            // three are distinct.
            let round_trip = verifies(&accepted, message, &sign(key, message));
            let neighbours = [prev, next]
                .into_iter()
                .flatten()
                .all(|k| verifies(&accepted, message, &sign(k, message)));
            let stranger = verifies(&accepted, message, &sign("not one of the keys", message));
            let distinct =
                prev != Some(key) && next != Some(key) && (prev.is_none() || prev != next);
            if !round_trip || !neighbours || stranger || !distinct || next.is_none() {
                return Err(BackendError::new(
                    crate::rotation::BackendErrorKind::Failed,
                    format!(
                        "`{}`: the sign/verify check failed (the key, `previous` and `next` must \
                         differ, and each verify only its own signatures)",
                        spec.name
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn validate_current(&self, current: &SecretString) -> Result<(), BackendError> {
        self.check_value(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn given_key_lists_then_they_parse_and_bad_ones_are_named() {
        let keys = parse_keys(
            "accessTokenSecret:64, refreshTokenSecret:64,cookieKey:32:hex,api:44:base64",
            SEED_EXCLUDE,
        )
        .unwrap();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[2].format, KeyFormat::Hex);
        for bad in [
            "x:8",
            "x:64:rot13",
            "x:33:hex",
            "previous:64",
            "a b:64",
            "x:64,x:64",
            "x:64:hex:extra",
            "next:64",
            ",",
        ] {
            assert!(parse_keys(bad, SEED_EXCLUDE).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_each_format_then_only_its_alphabet_and_length_are_accepted() {
        let printable = KeySpec {
            name: "k".into(),
            length: 4,
            format: KeyFormat::Printable {
                exclude: SEED_EXCLUDE.into(),
            },
        };
        assert!(printable.accepts("a#b~"));
        assert!(
            !printable.accepts("a@bc") && !printable.accepts("abc") && !printable.accepts("ab c")
        );
        let hex = KeySpec {
            format: KeyFormat::Hex,
            ..printable.clone()
        };
        assert!(hex.accepts("0aF9") && !hex.accepts("0ag9"));
        let b64 = KeySpec {
            format: KeyFormat::Base64,
            ..printable
        };
        assert!(b64.accepts("a+/Z") && b64.accepts("aQ==") && !b64.accepts("a-_Z"));
        // Non-zero bits after the last byte: not what an encoder writes, refused.
        assert!(!b64.accepts("ab=="));
        assert!(!b64.accepts("a===") && !b64.accepts("abcd\n"));
    }

    #[test]
    fn given_intervals_then_only_one_covering_the_token_life_is_accepted() {
        let b = AppSecretsBackend::new(AppSecretOptions::default());
        // 720 h: rotations may come a day early in their window, so 31 days is the least.
        assert!(b.check_interval(Some(31)).is_ok());
        let e = b.check_interval(Some(30)).unwrap_err();
        assert!(e.message.contains("every 31 days"), "{}", e.message);
        assert!(b.check_interval(Some(u64::MAX)).is_ok());
        assert!(b.check_interval(Some(0)).is_err());
        assert!(b.check_interval(None).is_err());
    }

    #[test]
    fn given_a_current_key_younger_than_the_token_life_then_a_rotation_is_refused() {
        let b = AppSecretsBackend::new(AppSecretOptions::default());
        let hour = jiff::SignedDuration::from_hours(1);
        let now = jiff::Timestamp::now();
        // An unknown age is not old enough.
        let e = b.check_age(None).unwrap_err();
        assert!(e.message.contains("unknown"), "{}", e.message);
        assert!(b.check_age(Some(now - hour * 721)).is_ok());
        let e = b.check_age(Some(now - hour * 2)).unwrap_err();
        assert!(e.message.contains("MIN_KEY_AGE_HOURS"), "{}", e.message);
        let off = AppSecretsBackend::new(AppSecretOptions {
            min_key_age: Duration::ZERO,
            ..AppSecretOptions::default()
        });
        assert!(off.check_age(Some(now)).is_ok());
        assert!(
            off.check_age(None).is_ok(),
            "MIN_KEY_AGE_HOURS=0 checks nothing"
        );
    }

    fn rotator() -> crate::rotation::Rotator<crate::fakes::MemorySecretStore, AppSecretsBackend> {
        crate::rotation::Rotator::new(
            crate::fakes::MemorySecretStore::default().with_secret(
                "jwt",
                &serde_json::json!({"accessTokenSecret": "k0".repeat(32), "issuer": "i"})
                    .to_string(),
            ),
            AppSecretsBackend::new(AppSecretOptions {
                token_max_age: Duration::from_secs(24 * 3600),
                min_key_age: Duration::ZERO,
                ..AppSecretOptions::default()
            }),
            PasswordPolicy::default(),
        )
    }

    async fn rotate(
        r: &crate::rotation::Rotator<crate::fakes::MemorySecretStore, AppSecretsBackend>,
        token: &str,
    ) -> Value {
        use crate::rotation::{RotationStep, Step};
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let s = RotationStep {
                step,
                secret_id: "jwt".into(),
                token: token.into(),
                rotation_token: None,
            };
            r.rotate(&s)
                .await
                .unwrap_or_else(|e| panic!("{token} {step:?}: {e}"));
        }
        serde_json::from_str(&r.store().value("jwt", AWSCURRENT).expect("current")).expect("json")
    }

    #[tokio::test]
    async fn given_rotations_then_next_is_published_first_and_then_promoted() {
        let r = rotator();
        r.store().start_rotation("jwt", "t1");
        let v1 = rotate(&r, "t1").await;
        // The seed's shape gains `next`; it still signs with the same key.
        assert_eq!(v1["accessTokenSecret"], serde_json::json!("k0".repeat(32)));
        assert!(v1.get(PREVIOUS).is_none() && v1["issuer"] == "i");
        let k1 = v1[NEXT]["accessTokenSecret"]
            .as_str()
            .expect("next")
            .to_string();
        r.store().start_rotation("jwt", "t2");
        let v2 = rotate(&r, "t2").await;
        assert_eq!(v2["accessTokenSecret"].as_str(), Some(k1.as_str()));
        assert_eq!(
            v2[PREVIOUS]["accessTokenSecret"],
            serde_json::json!("k0".repeat(32))
        );
        let k2 = v2[NEXT]["accessTokenSecret"].as_str().expect("next");
        assert!(k2 != k1 && k2.len() == 64);
    }

    #[tokio::test]
    async fn given_awscurrent_rewritten_mid_rotation_then_set_secret_refuses() {
        use crate::rotation::{RotationStep, SecretStore, Step};
        let r = rotator();
        r.store().start_rotation("jwt", "t1");
        let step = |step| RotationStep {
            step,
            secret_id: "jwt".into(),
            token: "t1".into(),
            rotation_token: None,
        };
        r.rotate(&step(Step::Create)).await.expect("create");
        // Someone publishes a `next` by hand after createSecret read AWSCURRENT.
        let by_hand = serde_json::json!({"accessTokenSecret": "k0".repeat(32),
                                         "next": {"accessTokenSecret": "kh".repeat(32)}});
        r.store()
            .put_pending("jwt", "hand", &SecretString::new(by_hand.to_string()), None)
            .await
            .expect("put");
        r.store()
            .move_stage("jwt", AWSCURRENT, Some("hand"), Some("v0"))
            .await
            .expect("current");
        r.store().start_rotation("jwt", "t1");
        let e = r.rotate(&step(Step::Set)).await.unwrap_err();
        assert_eq!(e.error_type(), "RotationRefused", "{e}");
    }

    /// What an operator does with PutSecretValue: `value` becomes AWSCURRENT as a new version.
    async fn put_current(
        r: &crate::rotation::Rotator<crate::fakes::MemorySecretStore, AppSecretsBackend>,
        version: &str,
        value: Value,
    ) {
        use crate::rotation::SecretStore;
        let store = r.store();
        let pending = store
            .describe("jwt")
            .await
            .expect("describe")
            .version_with(AWSPENDING)
            .map(str::to_string);
        store
            .put_pending("jwt", version, &SecretString::new(value.to_string()), None)
            .await
            .expect("put");
        let current = store.describe("jwt").await.expect("describe");
        store
            .move_stage(
                "jwt",
                AWSCURRENT,
                Some(version),
                current.version_with(AWSCURRENT),
            )
            .await
            .expect("current");
        // PutSecretValue with AWSCURRENT leaves a rotation's AWSPENDING where it was.
        if let Some(p) = pending {
            store.start_rotation("jwt", &p);
        }
    }

    fn step(step: crate::rotation::Step) -> crate::rotation::RotationStep {
        crate::rotation::RotationStep {
            step,
            secret_id: "jwt".into(),
            token: "t1".into(),
            rotation_token: None,
        }
    }

    #[tokio::test]
    async fn given_a_revocation_after_set_secret_then_finish_promotes_nothing() {
        use crate::rotation::Step;
        let r = rotator();
        let next = serde_json::json!({"accessTokenSecret": "k0".repeat(32),
                                      "next": {"accessTokenSecret": "k1".repeat(32)}});
        put_current(&r, "with-next", next).await;
        r.store().start_rotation("jwt", "t1");
        for s in [Step::Create, Step::Set, Step::Test] {
            r.rotate(&step(s)).await.expect("up to finish");
        }
        // k0 leaks: the operator revokes it the documented way (docs/rotate-app-secrets.md), a new key, no previous or next.
        let revoked = serde_json::json!({"accessTokenSecret": "k3".repeat(32)});
        put_current(&r, "revocation", revoked.clone()).await;
        let e = r.rotate(&step(Step::Finish)).await.unwrap_err();
        assert_eq!(e.error_type(), "RotationRefused", "{e}");
        let current: Value =
            serde_json::from_str(&r.store().value("jwt", AWSCURRENT).expect("current")).unwrap();
        assert_eq!(
            current, revoked,
            "the revocation stands: k0 is not trusted again"
        );
    }

    #[tokio::test]
    async fn given_an_unrotated_previous_key_revoked_after_create_secret_then_set_secret_refuses() {
        use crate::rotation::Step;
        let r = rotator();
        let with_legacy = serde_json::json!({"accessTokenSecret": "k0".repeat(32),
            "previous": {"accessTokenSecret": "kp".repeat(32), "legacyKey": "j0".repeat(32)},
            "next": {"accessTokenSecret": "k1".repeat(32)}});
        put_current(&r, "with-legacy", with_legacy).await;
        r.store().start_rotation("jwt", "t1");
        r.rotate(&step(Step::Create)).await.expect("create");
        // j0 leaks: the operator removes it from `previous`.
        let revoked = serde_json::json!({"accessTokenSecret": "k0".repeat(32),
            "previous": {"accessTokenSecret": "kp".repeat(32)},
            "next": {"accessTokenSecret": "k1".repeat(32)}});
        put_current(&r, "revoked", revoked).await;
        let e = r.rotate(&step(Step::Set)).await.unwrap_err();
        assert_eq!(e.error_type(), "RotationRefused", "{e}");
        let text = crate::error::report(&e);
        assert!(text.contains("of `previous`"), "{text}");
    }

    #[tokio::test]
    async fn given_a_field_added_after_create_secret_then_set_secret_refuses() {
        use crate::rotation::Step;
        let r = rotator();
        r.store().start_rotation("jwt", "t1");
        r.rotate(&step(Step::Create)).await.expect("create");
        let edited = serde_json::json!({"accessTokenSecret": "k0".repeat(32), "issuer": "i",
                                        "audience": "macro-ai-web"});
        put_current(&r, "edited", edited).await;
        let e = r.rotate(&step(Step::Set)).await.unwrap_err();
        assert_eq!(e.error_type(), "RotationRefused", "{e}");
        let text = crate::error::report(&e);
        assert!(text.contains("other than the keys"), "{text}");
    }

    #[tokio::test]
    async fn given_a_key_put_by_hand_just_now_then_the_minimum_age_counts_from_it() {
        use crate::rotation::Step;
        let r = crate::rotation::Rotator::new(
            crate::fakes::MemorySecretStore::default().with_secret(
                "jwt",
                &serde_json::json!({"accessTokenSecret": "k0".repeat(32)}).to_string(),
            ),
            AppSecretsBackend::new(AppSecretOptions {
                token_max_age: Duration::from_secs(24 * 3600),
                min_key_age: Duration::from_secs(24 * 3600),
                ..AppSecretOptions::default()
            }),
            PasswordPolicy::default(),
        );
        // The secret's first version is old: a rotation may replace it. A key put by hand a
        // moment ago (PutSecretValue moves no LastRotatedDate) may not.
        put_current(
            &r,
            "by-hand",
            serde_json::json!({"accessTokenSecret": "k5".repeat(32)}),
        )
        .await;
        r.store().start_rotation("jwt", "t1");
        let e = r.rotate(&step(Step::Create)).await.unwrap_err();
        assert_eq!(e.error_type(), "RotationRefused", "{e}");
        let text = crate::error::report(&e);
        assert!(text.contains("MIN_KEY_AGE_HOURS"), "{text}");
    }

    #[test]
    fn given_a_verifier_of_several_keys_then_each_verifies_and_others_do_not() {
        let msg = b"payload";
        assert!(verifies(&["new", "old"], msg, &sign("old", msg)));
        assert!(verifies(&["new", "old", "next"], msg, &sign("next", msg)));
        assert!(!verifies(&["new", "old"], msg, &sign("older", msg)));
        assert!(!verifies(&["new"], msg, &sign("old", msg)));
    }
}
