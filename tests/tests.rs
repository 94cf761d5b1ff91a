//! The one integration-test binary: runs the real `mimamori` binary and real third-party tools
//! against real recordings. Modules are named by subsystem.

mod bench_load;
mod bridge_e2e;
mod cli_alarms;
mod cli_analyze;
mod cli_eval;
mod cli_info;
mod cli_user;
mod deploy_files;
mod hub_e2e;
mod util;
mod wfdb_crosscheck;
