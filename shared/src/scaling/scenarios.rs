//! After-hours scaling and budget response on one fleet, each landing between the other's
//! writes (the fake runs the other function before a chosen write): whatever the interleaving,
//! a hold stands, and its release brings back exactly the capacity the day had.

use futures_util::FutureExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::budget::{BudgetConfig, BudgetInput, BudgetResponder};
use crate::capacity::SCHEDULE_TAG;
use crate::fakes::{MemoryFleet, MemoryNotificationLedger, RecordingNotifier};
use crate::schedule::Schedules;

const DEV: &str = "macro-ai-dev-cluster";
const API: &str = "macro-ai-dev-api-service";
const EVENING: &str = include_str!("../../../events/after-hours-scaling/tuesday-evening.json");
const MORNING: &str = include_str!("../../../events/after-hours-scaling/wednesday-morning.json");

fn request(event: &str) -> ScalingRequest {
    let event = serde_json::from_str(event).expect("sample");
    ScalingRequest::from_value(&event, || jiff::Timestamp::UNIX_EPOCH).expect("request")
}

/// budget-response's hold or release of dev, run to the end on `fleet` (the fakes never wait).
fn budget(fleet: &MemoryFleet, input: BudgetInput) {
    budget_at(fleet, input, jiff::Timestamp::now());
}

/// The same at `now` (the hold's `since`).
pub(super) fn budget_at(fleet: &MemoryFleet, input: BudgetInput, now: jiff::Timestamp) {
    let responder = BudgetResponder::new(
        fleet,
        MemoryNotificationLedger::default(),
        RecordingNotifier::default(),
        BudgetConfig::seed(),
    );
    let (_, failures) = responder
        .handle(vec![input], now)
        .now_or_never()
        .expect("the fakes answer at once");
    assert!(
        failures.is_empty(),
        "{:?}",
        failures.iter().map(|(l, _)| l).collect::<Vec<_>>()
    );
}

/// After-hours scaling of dev with the seed's schedules in UTC, one service at a time.
fn dev_scaler(fleet: &MemoryFleet) -> Scaler<&MemoryFleet, RecordingNotifier> {
    Scaler::new(
        fleet,
        RecordingNotifier::default(),
        ScalingConfig {
            clusters: vec![DEV.into()],
            schedules: Schedules::new("UTC", None).expect("the seed's schedules"),
            concurrency: 1,
            production: false,
        },
    )
}

fn hold() -> BudgetInput {
    BudgetInput::Hold {
        environment: "dev".into(),
        reason: "a budget breach".into(),
    }
}

fn capacity(fleet: &MemoryFleet) -> (i32, Option<(i32, i32)>) {
    let s = fleet.service(DEV, API).expect("service");
    (
        s.capacity.desired,
        s.capacity.bounds.map(|b| (b.min, b.max)),
    )
}

#[tokio::test]
async fn given_a_hold_landing_before_any_write_of_the_morning_restore_then_its_release_restores_the_day()
 {
    // The restore writes the bounds, the desired count, then removes the saved tag; the hold
    // lands before each of them in turn.
    for landing in 0..3 {
        let fleet = MemoryFleet::new().with_service(
            DEV,
            API,
            2,
            Some((1, 4)),
            &[(SCHEDULE_TAG, "dev-office-hours")],
        );
        let scaler = dev_scaler(&fleet);
        scaler.run(&request(EVENING)).await;
        assert_eq!(capacity(&fleet), (0, Some((0, 0))), "the evening");
        let writes = Arc::new(AtomicUsize::new(0));
        let seen = writes.clone();
        fleet.before_each_write(Box::new(move |fleet, _, _| {
            if seen.fetch_add(1, Ordering::SeqCst) == landing {
                budget(fleet, hold());
            }
        }));
        scaler.run(&request(MORNING)).await;
        fleet.before_each_write(Box::new(|_, _, _| {}));
        assert_eq!(capacity(&fleet).0, 0, "landing {landing}: the hold stands");
        budget(
            &fleet,
            BudgetInput::Release {
                environment: "dev".into(),
            },
        );
        assert_eq!(
            capacity(&fleet),
            (2, Some((1, 4))),
            "landing {landing}: the release brings back the day's capacity"
        );
        assert!(writes.load(Ordering::SeqCst) >= 3, "the restore wrote");
    }
}

/// The hold tagged and read the service before the restore's writes and reduced after them
/// (from its stale read: already at 0, nothing to do), and the restore stopped before it could
/// re-read (a timeout): the service runs its day capacity under a hold, nothing saved. The next
/// after-hours run, whatever the hour, brings it down to the hold and saves that capacity, and
/// the release brings it back.
#[tokio::test]
async fn given_a_held_service_left_above_its_hold_then_the_next_run_reduces_it_and_the_release_restores_it()
 {
    for event in [MORNING, EVENING] {
        let fleet = MemoryFleet::new().with_service(
            DEV,
            API,
            2,
            Some((1, 4)),
            &[
                (SCHEDULE_TAG, "dev-office-hours"),
                (
                    crate::capacity::BUDGET_HOLD_TAG,
                    "since=2026-11-24T08:59:59Z to=0",
                ),
            ],
        );
        let scaler = dev_scaler(&fleet);
        let report = scaler.run(&request(event)).await;
        assert_eq!(capacity(&fleet), (0, Some((0, 0))), "{report:?}");
        budget(
            &fleet,
            BudgetInput::Release {
                environment: "dev".into(),
            },
        );
        assert_eq!(capacity(&fleet), (2, Some((1, 4))), "the day's capacity");
    }
}
