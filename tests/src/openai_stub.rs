//! Controls of the local OpenAI stub (`scripts/openai_stub.py`): which keys `/v1/models`
//! accepts, which admin keys the Admin API accepts, and what a project minted and revoked.

use anyhow::Result;
use serde_json::{Value, json};

use crate::Stack;

impl Stack {
    /// Makes `/v1/models` answer `status` for `key`.
    pub async fn openai_key(&self, key: &str, status: u16) -> Result<()> {
        reqwest::Client::new()
            .post(format!("{}/_stub/keys", self.openai_base_url))
            .json(&json!({"key": key, "status": status}))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Lets the Admin API accept `key`.
    pub async fn openai_admin_key(&self, key: &str) -> Result<()> {
        reqwest::Client::new()
            .post(format!("{}/_stub/admin-keys", self.openai_base_url))
            .json(&json!({"key": key}))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// `{"accounts": [{id, name}], "created": n, "deleted": [ids]}` of a project.
    pub async fn openai_project(&self, project: &str) -> Result<Value> {
        Ok(reqwest::Client::new()
            .get(format!("{}/_stub/projects/{project}", self.openai_base_url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Mints a service account directly, as an earlier, interrupted attempt would have.
    pub async fn openai_mint(&self, admin_key: &str, project: &str, name: &str) -> Result<Value> {
        Ok(reqwest::Client::new()
            .post(format!(
                "{}/v1/organization/projects/{project}/service_accounts",
                self.openai_base_url
            ))
            .bearer_auth(admin_key)
            .json(&json!({"name": name}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}
