//! Alerting, sans-IO: nothing here reads a clock, opens a socket or touches a disk; every input
//! carries the time, every output is a value, so the whole of it is unit-tested on a simulated
//! clock (the shape of quinn-proto).
//!
//! - [`rules`]: conditions from findings, samples and connections become alerts (one condition,
//!   one alert; raised, updated, acknowledged, resolved).
//! - [`dispatch`]: who is told, how and when: the on-call roster, routing by severity,
//!   escalation to the next person when nobody acknowledges, repeats for the most urgent,
//!   snooze with an upper bound, delivery attempts with retries and a failing-channel alarm.

pub mod dispatch;
pub mod rules;

pub use rules::*;
