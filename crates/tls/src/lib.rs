//! `ctg-tls`: who may talk to whom.
//!
//! [`pki`]: the deployment's own certificate authority and the certificates it issues (hub
//! server certificates; bridge client certificates naming facility and bridge).
//! [`quic`]: quinn endpoint configurations with mutual TLS 1.3 from those PEM files, and the
//! peer's names read back from its certificate.

pub mod pki;
pub mod quic;
