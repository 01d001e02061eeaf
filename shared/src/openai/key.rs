//! The OpenAI key secret: the key itself as a plain SecretString (the seed's form) or
//! `{"apiKey": "...", ...}`. A new version keeps the form and every other field.

use serde_json::{Map, Value};

use crate::rotation::BackendError;
use crate::secret::{Fields, SecretString};

/// A parsed key secret. `Debug` shows neither the key nor the values of other fields.
#[derive(Clone)]
pub struct KeySecret {
    fields: Option<Map<String, Value>>,
    pub key: SecretString,
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecret")
            .field("key", &self.key)
            .field(
                "fields",
                &self.fields.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl KeySecret {
    /// Parses a secret value; errors never show it.
    pub fn parse(raw: &SecretString, label: &str) -> Result<Self, BackendError> {
        let text = raw.expose().trim();
        if text.starts_with('{') {
            let fields = Fields::parse(raw, label, "{\"apiKey\": \"sk-...\"}")?.into_map();
            let key = match fields.get("apiKey") {
                Some(Value::String(k)) if valid_key(k) => SecretString::new(k.clone()),
                Some(_) => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label} field `apiKey` must be a key string without spaces"
                    )));
                }
                None => {
                    return Err(BackendError::invalid_secret(format!(
                        "{label} is a JSON object without `apiKey`"
                    )));
                }
            };
            return Ok(Self {
                fields: Some(fields),
                key,
            });
        }
        if !valid_key(text) {
            return Err(BackendError::invalid_secret(format!(
                "{label} is neither an API key (one word) nor {{\"apiKey\": \"...\"}}"
            )));
        }
        Ok(Self {
            fields: None,
            key: SecretString::new(text),
        })
    }

    /// The same secret holding `key` instead, in the form it had.
    pub fn with_key(&self, key: &SecretString) -> SecretString {
        match &self.fields {
            None => key.clone(),
            Some(fields) => {
                let mut fields = fields.clone();
                fields.insert("apiKey".into(), Value::from(key.expose()));
                SecretString::new(Value::Object(fields).to_string())
            }
        }
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 1024 && !k.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// How a key may be shown: `sk-...` and its last 4 characters, nothing more.
pub fn redact(key: &SecretString) -> String {
    let chars: Vec<char> = key.expose().chars().collect();
    if chars.len() < 12 {
        return "sk-...".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("sk-...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_both_forms_when_debug_formatted_then_the_key_is_not_shown() {
        for raw in [
            "sk-proj-hunter2hunter2hunter2".to_string(),
            serde_json::json!({"apiKey": "sk-proj-hunter2hunter2hunter2", "org": "org-value-7"})
                .to_string(),
        ] {
            let s = KeySecret::parse(&SecretString::new(raw), "AWSCURRENT").unwrap();
            let shown = format!("{s:?} {s:#?}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("org-value-7"),
                "{shown}"
            );
        }
    }

    #[test]
    fn given_both_forms_then_the_key_is_read_and_the_form_kept() {
        let plain =
            KeySecret::parse(&SecretString::new("sk-proj-abcdef1234567890\n"), "c").unwrap();
        assert_eq!(plain.key.expose(), "sk-proj-abcdef1234567890");
        assert_eq!(
            plain.with_key(&SecretString::new("sk-new")).expose(),
            "sk-new"
        );
        let json =
            KeySecret::parse(&SecretString::new(r#"{"apiKey":"sk-a","org":"o"}"#), "c").unwrap();
        let out: Value =
            serde_json::from_str(json.with_key(&SecretString::new("sk-b")).expose()).unwrap();
        assert_eq!(out, serde_json::json!({"apiKey": "sk-b", "org": "o"}));
    }

    #[test]
    fn given_bad_secrets_then_errors_name_the_problem_only() {
        for (raw, expect) in [
            ("{\"key\": \"sk-topsecret\"}", "without `apiKey`"),
            ("{\"apiKey\": 5}", "must be a key string"),
            ("sk-top secret", "neither an API key"),
            ("", "neither an API key"),
            ("{broken sk-topsecret", "not a JSON object"),
        ] {
            let err = KeySecret::parse(&SecretString::new(raw), "AWSCURRENT").unwrap_err();
            assert!(err.to_string().contains(expect), "{raw}: {err}");
            assert!(!err.to_string().contains("topsecret"));
        }
    }

    #[test]
    fn given_a_key_then_only_sk_and_the_last_four_show() {
        assert_eq!(
            redact(&SecretString::new("sk-proj-0123456789abcdWXYZ")),
            "sk-...WXYZ"
        );
        assert_eq!(redact(&SecretString::new("short")), "sk-...");
    }
}
