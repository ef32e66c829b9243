//! Outbound events, the pure parts: the types and the body of an event
//! ([`EventType`], [`body`]), what an activity entry reports ([`from_activity`]),
//! Standard Webhooks signing ([`sign`]), the retry schedule and `Retry-After`
//! ([`schedule`]), and the rules an endpoint URL must meet ([`url`]). The outbox, the
//! endpoints and the delivery worker are `repositories::events` and
//! `services::events`.

pub mod schedule;
pub mod sign;
pub mod types;
pub mod url;

pub use schedule::RetrySchedule;
pub use types::{EventType, body, from_activity, public_id};
