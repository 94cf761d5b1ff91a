//! `ctg-sim`: fetal monitors that speak the real protocols, for tests, demos and load runs.
//!
//! A simulated monitor plays a [`SecondSource`] (a recording from `../shared/data`, in real time
//! or faster) through the monitor side of a protocol codec from `ctg-devices`, onto a real
//! pseudo-terminal: the bridge opens its path like `/dev/ttyUSB0` and cannot tell it from a
//! cable. The monitor answers the host's requests as the real one does; the recording advances
//! only by the seconds it actually sends (so a test knows exactly which samples went out).

pub mod hl7;
#[cfg(unix)]
pub mod pty;
pub mod source;
pub mod synthetic;

#[cfg(unix)]
pub use pty::{PtyMonitor, PtyMonitorHandle};
pub use source::{RecordingSource, SecondSource};
pub use synthetic::Synthetic;
