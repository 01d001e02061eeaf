//! ElastiCache in memory, beside the `ElastiCacheApi` port (`elasticache.rs`) and its SDK adapter
//! (`aws::elasticache`): users with a name, a status that settles after a number of reads, and
//! their passwords; replication groups with their status and AUTH tokens (at most two, as
//! ElastiCache allows: a ROTATE beside two is refused).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::elasticache::{CacheUser, ElastiCacheApi, TokenChange, TokenUpdate};
use crate::fakes::lock;
use crate::rotation::{BackendError, BackendErrorKind};
use crate::secret::SecretString;

#[derive(Debug, Default)]
struct User {
    name: String,
    /// Reads left before the status is `active` (each describe counts one).
    busy_reads: u32,
    passwords: Vec<String>,
}

#[derive(Debug, Default)]
struct Group {
    busy_reads: u32,
    tokens: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    calls: Vec<String>,
}

/// ElastiCache in memory.
#[derive(Debug, Default)]
pub struct MemoryElastiCache(Mutex<State>);

impl MemoryElastiCache {
    /// A user `id` named `name`, `modifying` for `busy_reads` describes, then `active`.
    pub fn with_user(self, id: &str, name: &str, busy_reads: u32) -> Self {
        lock(&self.0).users.insert(
            id.into(),
            User {
                name: name.into(),
                busy_reads,
                passwords: Vec::new(),
            },
        );
        self
    }

    /// A replication group `modifying` for `busy_reads` reads, with one AUTH token in use.
    pub fn with_group(self, id: &str, busy_reads: u32, token: &str) -> Self {
        lock(&self.0).groups.insert(
            id.into(),
            Group {
                busy_reads,
                tokens: vec![token.into()],
            },
        );
        self
    }

    /// The passwords a user accepts now.
    pub fn passwords(&self, id: &str) -> Vec<String> {
        lock(&self.0)
            .users
            .get(id)
            .map(|u| u.passwords.clone())
            .unwrap_or_default()
    }

    /// The AUTH tokens a group accepts now.
    pub fn tokens(&self, id: &str) -> Vec<String> {
        lock(&self.0)
            .groups
            .get(id)
            .map(|g| g.tokens.clone())
            .unwrap_or_default()
    }

    /// Every call made, in order (`DescribeUsers u`, `ModifyUser u`, …).
    pub fn calls(&self) -> Vec<String> {
        lock(&self.0).calls.clone()
    }
}

fn not_found(what: &str) -> BackendError {
    BackendError::new(BackendErrorKind::Refused, format!("{what} not found"))
}

fn status(busy_reads: &mut u32, ready: &str) -> String {
    if *busy_reads == 0 {
        ready.to_string()
    } else {
        *busy_reads -= 1;
        "modifying".to_string()
    }
}

impl ElastiCacheApi for MemoryElastiCache {
    async fn describe_user(&self, user_id: &str) -> Result<CacheUser, BackendError> {
        let mut state = lock(&self.0);
        state.calls.push(format!("DescribeUsers {user_id}"));
        let user = state
            .users
            .get_mut(user_id)
            .ok_or_else(|| not_found(&format!("user `{user_id}`")))?;
        Ok(CacheUser {
            name: user.name.clone(),
            status: status(&mut user.busy_reads, "active"),
        })
    }

    async fn set_user_passwords(
        &self,
        user_id: &str,
        passwords: &[&SecretString],
    ) -> Result<(), BackendError> {
        let mut state = lock(&self.0);
        state.calls.push(format!("ModifyUser {user_id}"));
        let user = state
            .users
            .get_mut(user_id)
            .ok_or_else(|| not_found(&format!("user `{user_id}`")))?;
        user.passwords = passwords.iter().map(|p| p.expose().to_string()).collect();
        Ok(())
    }

    async fn group_status(&self, group_id: &str) -> Result<String, BackendError> {
        let mut state = lock(&self.0);
        state
            .calls
            .push(format!("DescribeReplicationGroups {group_id}"));
        let group = state
            .groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(&format!("replication group `{group_id}`")))?;
        Ok(status(&mut group.busy_reads, "available"))
    }

    async fn set_auth_token(
        &self,
        group_id: &str,
        token: &SecretString,
        update: TokenUpdate,
    ) -> Result<TokenChange, BackendError> {
        let mut state = lock(&self.0);
        state
            .calls
            .push(format!("ModifyReplicationGroup {group_id} {update:?}"));
        let group = state
            .groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(&format!("replication group `{group_id}`")))?;
        let token = token.expose().to_string();
        match update {
            TokenUpdate::Rotate if group.tokens.len() >= 2 => {
                return Ok(TokenChange::TwoTokensInUse);
            }
            TokenUpdate::Rotate => group.tokens.push(token),
            TokenUpdate::Set => group.tokens = vec![token],
        }
        Ok(TokenChange::Applied)
    }
}
