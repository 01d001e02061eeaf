//! Save, reduce and restore, each ordered so a crash at any point is finished by the next run.

use super::fleet::{Bounds, Capacity, FleetError, ServiceFleet, ServiceState};
use super::tags::SAVED_CAPACITY_TAG;

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
