//! Behaviour tests against the public API, one file per area, plus a model-based proptest.

mod introspection;
mod model;
mod removal;
mod replay;
mod transcripts;
mod trigger;

use corral_proto::EventType;

use crate::{Notification, SessionId, WatchRegistry};

const S1: SessionId = 0x100;
const S2: SessionId = 0x200;
const S3: SessionId = 0x300;

/// A way to put watches into a fresh registry, for table-driven tests.
type Setup = fn(&mut WatchRegistry);

/// Notifications as compact tuples, for readable assertions.
fn summary(notifications: &[Notification]) -> Vec<(SessionId, EventType, &str)> {
    notifications
        .iter()
        .map(|n| (n.session, n.event, n.path.as_str()))
        .collect()
}

/// Triggers and checks the registry's internal consistency afterwards.
fn fire(registry: &mut WatchRegistry, path: &str, event: EventType) -> Vec<Notification> {
    let notifications = registry.trigger(path, event);
    registry.assert_consistent();
    notifications
}
