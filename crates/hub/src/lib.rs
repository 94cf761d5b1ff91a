//! `ctg-hub`: the server at the core perinatal centre.
pub mod store;
