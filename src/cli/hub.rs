//! `mimamori hub`: the hub on one machine.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub fn run(
    pki: &Path,
    name: &str,
    db: &Path,
    listen: SocketAddr,
    http: SocketAddr,
    centre: &str,
    rules: ctg_hub::alerts::AlertRules,
) -> Result<()> {
    super::field::init_logging();
    if !http.ip().is_loopback() {
        bail!(
            "the API is plain HTTP until TLS for users lands: --http must be a loopback address, not {http}"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let hub = ctg_hub::Hub::open_with(db, "mimamori-hub", centre, rules)?;
    let (ca, cert, key) = (
        pki.join("ca.pem"),
        pki.join(format!("{name}.pem")),
        pki.join(format!("{name}.key")),
    );
    rt.block_on(async move {
        hub.start_alerts();
        let api = tokio::spawn(ctg_hub::api::serve(hub.clone(), http, None));
        let ingest = ctg_hub::ingest::serve(hub, listen, &ca, &cert, &key, None);
        tokio::select! {
            result = ingest => result,
            result = api => result.context("API task")?,
        }
    })
}

pub fn user_add(db: &Path, username: &str, role: &str, facility: &str, centre: &str) -> Result<()> {
    let role = ctg_hub::accounts::Role::parse(role)?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let accounts = ctg_hub::accounts::Accounts::open(db, centre)?;
    let id = accounts.add_user(
        username,
        password.trim_end_matches(['\r', '\n']),
        role,
        facility,
    )?;
    println!(
        "user {username} ({}, {facility}) created with id {id}",
        role.name()
    );
    Ok(())
}

pub fn audit_verify(db: &Path) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    let entries = accounts.verify_audit()?;
    println!("audit log intact: {entries} entries, every hash links to the one before");
    Ok(())
}
