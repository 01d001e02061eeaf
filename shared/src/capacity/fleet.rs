//! A service as the capacity logic sees it, and the port to the fleet (ECS and Application Auto
//! Scaling; `aws::ecs` implements it, `fakes` stands in for it).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use crate::error::BoxError;

/// An ECS service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceId {
    pub cluster: String,
    pub name: String,
    pub arn: String,
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.name)
    }
}

/// A scalable target's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i32,
    pub max: i32,
}

/// What a service runs at: its desired count and, if autoscaled, its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub desired: i32,
    pub bounds: Option<Bounds>,
}

impl Capacity {
    /// The tag value: `desired=2 min=1 max=4` (ECS tag values allow no braces or quotes).
    pub fn encode(&self) -> String {
        match self.bounds {
            Some(b) => format!("desired={} min={} max={}", self.desired, b.min, b.max),
            None => format!("desired={}", self.desired),
        }
    }

    /// Reads a tag value written by [`Capacity::encode`].
    pub fn decode(value: &str) -> Option<Self> {
        let mut fields = BTreeMap::new();
        for part in value.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            let n: i32 = v.parse().ok().filter(|n| (0..=100_000).contains(n))?;
            if fields.insert(k, n).is_some() {
                return None;
            }
        }
        let desired = fields.remove("desired")?;
        let bounds = match (fields.remove("min"), fields.remove("max")) {
            (Some(min), Some(max)) if min <= max => Some(Bounds { min, max }),
            (None, None) => None,
            _ => return None,
        };
        fields.is_empty().then_some(Self { desired, bounds })
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// A service as the capacity logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub id: ServiceId,
    pub capacity: Capacity,
    pub tags: BTreeMap<String, String>,
}

impl ServiceState {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// Why the fleet failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetErrorKind {
    /// The service or cluster is gone (deleted, or not active).
    NotFound,
    /// Throttled, unreachable or timed out after the SDK's retries.
    Unavailable,
    AccessDenied,
    Other,
}

/// A failed call to ECS or Application Auto Scaling, with the SDK's error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on `{target}` failed")]
pub struct FleetError {
    pub operation: &'static str,
    pub target: String,
    pub kind: FleetErrorKind,
    #[source]
    pub source: BoxError,
}

/// The port to ECS and Application Auto Scaling: what the capacity logic needs, in domain types.
pub trait ServiceFleet: Send + Sync {
    /// Every active service of `cluster`, with its tags and scalable-target bounds.
    fn list(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ServiceState>, FleetError>> + Send;
    /// One service as it is now (re-read right before a write, so a decision made on an older
    /// `list` does not act on a state another function changed meanwhile).
    fn get(
        &self,
        service: &ServiceId,
    ) -> impl Future<Output = Result<ServiceState, FleetError>> + Send;
    fn set_desired(
        &self,
        service: &ServiceId,
        desired: i32,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
    fn set_bounds(
        &self,
        service: &ServiceId,
        bounds: Bounds,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
    fn tag(
        &self,
        service: &ServiceId,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
    fn untag(
        &self,
        service: &ServiceId,
        key: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send;
}

/// A fleet shared by reference (two orchestrators of one test on one fake).
impl<T: ServiceFleet> ServiceFleet for &T {
    fn list(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<ServiceState>, FleetError>> + Send {
        (**self).list(cluster)
    }
    fn get(
        &self,
        service: &ServiceId,
    ) -> impl Future<Output = Result<ServiceState, FleetError>> + Send {
        (**self).get(service)
    }
    fn set_desired(
        &self,
        service: &ServiceId,
        desired: i32,
    ) -> impl Future<Output = Result<(), FleetError>> + Send {
        (**self).set_desired(service, desired)
    }
    fn set_bounds(
        &self,
        service: &ServiceId,
        bounds: Bounds,
    ) -> impl Future<Output = Result<(), FleetError>> + Send {
        (**self).set_bounds(service, bounds)
    }
    fn tag(
        &self,
        service: &ServiceId,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send {
        (**self).tag(service, key, value)
    }
    fn untag(
        &self,
        service: &ServiceId,
        key: &str,
    ) -> impl Future<Output = Result<(), FleetError>> + Send {
        (**self).untag(service, key)
    }
}
