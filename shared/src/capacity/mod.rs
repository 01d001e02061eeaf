//! The capacity logic, written once for after-hours scaling and budget response: read a
//! service's desired count and its scalable target's min/max, save them on the service itself
//! (tag `macro-ai:saved-capacity`), hold it at a lower capacity, and restore exactly what was
//! saved. Every operation is ordered so a crash at any point is finished by the next run: the
//! saved tag is written before anything is reduced and removed only after everything is restored.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use crate::error::BoxError;

/// The tag that holds what a reduced service had.
pub const SAVED_CAPACITY_TAG: &str = "macro-ai:saved-capacity";
/// The tag naming a service's office-hours schedule (`off` or absent: never scheduled).
pub const SCHEDULE_TAG: &str = "macro-ai:schedule";
/// `<RFC 3339 time>`: keep the service up until then (someone working late).
pub const KEEP_UP_UNTIL_TAG: &str = "macro-ai:keep-up-until";
/// Set by budget-response while a budget hold keeps a service down.
pub const BUDGET_HOLD_TAG: &str = "macro-ai:budget-hold";
/// `stop-only` (down at the start of off hours, never brought up by the schedule) or
/// `start-stop` (the default unless the schedule says `startsAutomatically: false`).
pub const SCHEDULE_MODE_TAG: &str = "macro-ai:schedule-mode";
/// `<RFC 3339 time>`: when after-hours scaling last stopped a stop-only service, so a person's
/// start after it is not fought until the next off-hours stretch.
pub const STOPPED_AT_TAG: &str = "macro-ai:stopped-at";
/// The environment of a service when its cluster name does not say it.
pub const ENVIRONMENT_TAG: &str = "macro-ai:environment";

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

/// What a capacity operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Already where it should be.
    Unchanged,
    Changed {
        before: Capacity,
        after: Capacity,
    },
}

/// A capacity operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("the `{SAVED_CAPACITY_TAG}` tag of {service} is unreadable; fix or remove it by hand")]
    UnreadableSavedTag { service: String },
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// The saved capacity of a service, if it has one.
pub fn saved(state: &ServiceState) -> Result<Option<Capacity>, CapacityError> {
    match state.tag(SAVED_CAPACITY_TAG) {
        None => Ok(None),
        Some(v) => Capacity::decode(v)
            .map(Some)
            .ok_or_else(|| CapacityError::UnreadableSavedTag {
                service: state.id.to_string(),
            }),
    }
}

/// Holds `state` at `to` tasks at most (and its scalable target's max there too, so autoscaling
/// cannot undo it), saving what it had first unless a saved capacity already exists. Reducing
/// never raises anything: a service below `to` stays where it is (its max comes down to it).
pub async fn reduce_to<F: ServiceFleet>(
    fleet: &F,
    state: &ServiceState,
    to: i32,
) -> Result<Change, CapacityError> {
    let current = state.capacity;
    let target = reduced(current, to);
    let already_saved = saved(state)?.is_some();
    if current == target {
        // Already there (reduced earlier, or never above it): nothing to save or change.
        return Ok(Change::Unchanged);
    }
    if !already_saved {
        fleet
            .tag(&state.id, SAVED_CAPACITY_TAG, &current.encode())
            .await?;
    }
    if let Some(bounds) = target.bounds.filter(|b| Some(*b) != current.bounds) {
        fleet.set_bounds(&state.id, bounds).await?;
    }
    if current.desired != target.desired {
        fleet.set_desired(&state.id, target.desired).await?;
    }
    Ok(Change::Changed {
        before: current,
        after: target,
    })
}

/// `current` held at `to` tasks at most: desired, min and max each only ever come down.
pub fn reduced(current: Capacity, to: i32) -> Capacity {
    let desired = current.desired.min(to);
    Capacity {
        desired,
        bounds: current.bounds.map(|b| Bounds {
            min: b.min.min(desired),
            max: b.max.min(desired),
        }),
    }
}

/// Restores exactly the saved capacity, then removes the saved tag. Nothing saved: unchanged.
pub async fn restore<F: ServiceFleet>(
    fleet: &F,
    state: &ServiceState,
) -> Result<Change, CapacityError> {
    let Some(saved) = saved(state)? else {
        return Ok(Change::Unchanged);
    };
    let current = state.capacity;
    // Bounds first: raising desired under min = max = 0 would be undone by autoscaling.
    if let (Some(bounds), Some(now)) = (saved.bounds, current.bounds)
        && bounds != now
    {
        fleet.set_bounds(&state.id, bounds).await?;
    }
    if current.desired != saved.desired {
        fleet.set_desired(&state.id, saved.desired).await?;
    }
    fleet.untag(&state.id, SAVED_CAPACITY_TAG).await?;
    let after = Capacity {
        desired: saved.desired,
        bounds: saved.bounds.or(current.bounds),
    };
    Ok(Change::Changed {
        before: current,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_any_capacity_then_reducing_never_raises_desired_min_or_max() {
        let c = |desired, b: Option<(i32, i32)>| Capacity {
            desired,
            bounds: b.map(|(min, max)| Bounds { min, max }),
        };
        for (current, to, expected) in [
            (c(2, Some((1, 4))), 1, c(1, Some((1, 1)))),
            (c(2, Some((1, 4))), 0, c(0, Some((0, 0)))),
            // Someone set it to 0: a "scale down to 1" keeps it at 0 and lowers the max.
            (c(0, Some((0, 4))), 1, c(0, Some((0, 0)))),
            (c(0, None), 1, c(0, None)),
            (c(3, Some((2, 2))), 5, c(3, Some((2, 2)))),
        ] {
            let r = reduced(current, to);
            assert_eq!(r, expected, "{current:?} to {to}");
            assert!(r.desired <= current.desired);
            if let (Some(a), Some(b)) = (r.bounds, current.bounds) {
                assert!(a.min <= b.min && a.max <= b.max, "{current:?} to {to}");
            }
        }
    }

    #[test]
    fn given_capacities_then_the_tag_round_trips_and_junk_is_refused() {
        for c in [
            Capacity {
                desired: 2,
                bounds: Some(Bounds { min: 1, max: 4 }),
            },
            Capacity {
                desired: 0,
                bounds: None,
            },
        ] {
            assert_eq!(Capacity::decode(&c.encode()), Some(c));
        }
        for junk in [
            "",
            "desired=x",
            "min=1 max=2",
            "desired=1 min=3 max=2",
            "desired=1 min=1",
            "desired=1 desired=2",
            "desired=1 extra=2",
            "desired=-1",
            "{\"desired\":1}",
        ] {
            assert_eq!(Capacity::decode(junk), None, "{junk}");
        }
        assert!(
            Capacity {
                desired: 2,
                bounds: Some(Bounds { min: 1, max: 4 })
            }
            .encode()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c))
        );
    }
}
