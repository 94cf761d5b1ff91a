//! HL7 v2 over MLLP: the ORU^R01 observations some monitors and gateways send (IHE PCD-01).
//!
//! [`mllp`] frames and deframes; [`oru`] maps observations into the normalised model and builds
//! the ACK. The bridge's MLLP listener acknowledges a message only after its samples are in the
//! spool, so an `AA` means the bridge holds them durably.

pub mod mllp;
pub mod oru;

pub use mllp::{MllpDecoder, MllpError, MllpStats};
pub use oru::{AckCode, Handled, Hl7Stats, OruReceiver, build_oru, hl7_timestamp};
