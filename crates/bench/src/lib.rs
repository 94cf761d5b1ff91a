//! The load harness (`mimamori bench load`, `mimamori bench sweep`): simulated bridges (real
//! QUIC with mutual TLS, a 4-sample block per second each, staggered, held until
//! acknowledged) and WebSocket viewers against a real hub running as its own process with its
//! real store. Reports latency from block creation at the bridge to arrival at a viewer (HDR
//! histogram), samples lost, the hub's CPU and memory, disk growth, the ingest rate, recovery
//! after kill -9, and backfill; the sweep finds the capacity and draws the curves.
//!
//! The generator shares the machine with the hub (the report gives both CPU figures), so on a
//! small machine the hub's figures are pessimistic.

pub mod fleet;
pub mod hub_process;
pub mod load;
pub mod plot;
pub mod sweep;
pub mod viewers;
