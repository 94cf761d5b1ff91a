//! `mimamori hub`: the hub on one machine.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Where people's browsers reach the hub.
pub struct Web {
    /// Plain HTTP (loopback only).
    pub http: SocketAddr,
    /// HTTPS, if asked for (replaces plain HTTP).
    pub https: Option<SocketAddr>,
    /// The SMTP server for e-mail alerts, `HOST:PORT`.
    pub smtp: Option<String>,
    /// The sender of e-mail alerts.
    pub mail_from: String,
    /// Refuse users without a second factor.
    pub require_second_factor: bool,
    /// How long a sign-in lasts, hours.
    pub session_hours: i64,
}

pub fn run(
    pki: &Path,
    name: &str,
    db: &Path,
    listen: SocketAddr,
    web: Web,
    centre: &str,
    alerts: ctg_hub::alerts::AlertsConfig,
) -> Result<()> {
    super::field::init_logging();
    let http = web.http;
    if web.https.is_none() && !http.ip().is_loopback() {
        bail!(
            "plain HTTP serves loopback only: use --https {http} to serve other machines (TLS with the hub's certificate)"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let hub = ctg_hub::Hub::open_with(db, "mimamori-hub", centre, alerts)?;
    hub.accounts
        .require_second_factor(web.require_second_factor);
    hub.accounts.set_session_hours(web.session_hours)?;
    if let Some(smtp) = &web.smtp {
        let (host, port) = smtp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
            .with_context(|| format!("--smtp {smtp}: give HOST:PORT"))?;
        hub.notifier.set_smtp(Some(ctg_hub::notify::Smtp {
            host,
            port,
            from: web.mail_from.clone(),
        }));
    }
    let (ca, cert, key) = (
        pki.join("ca.pem"),
        pki.join(format!("{name}.pem")),
        pki.join(format!("{name}.key")),
    );
    rt.block_on(async move {
        hub.start_alerts();
        let api = match web.https {
            Some(https) => tokio::spawn({
                let (hub, cert, key) = (hub.clone(), cert.clone(), key.clone());
                async move { ctg_hub::api::serve_tls(hub, https, &cert, &key, None).await }
            }),
            None => tokio::spawn(ctg_hub::api::serve(hub.clone(), http, None)),
        };
        let ingest =
            ctg_hub::ingest::serve(hub, listen, &ca, &cert, &key, None, super::stop_requested());
        tokio::select! {
            result = ingest => result,
            result = api => result.context("API task")?,
        }
    })
}

/// The alerts configuration: the file (or the defaults), then the command line's overrides.
pub fn alerts_config(
    file: Option<&Path>,
    stalled_after_s: Option<u64>,
    signal_loss_after_s: Option<u64>,
    bridge_offline_after_s: Option<u64>,
) -> Result<ctg_hub::alerts::AlertsConfig> {
    let mut config = match file {
        Some(path) => ctg_hub::alerts::AlertsConfig::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("in {}", path.display()))?,
        None => ctg_hub::alerts::AlertsConfig::default(),
    };
    let ms = |s: u64| s as i64 * 1000;
    if let Some(s) = stalled_after_s {
        config.rules.stalled_ms = ms(s);
    }
    if let Some(s) = signal_loss_after_s {
        config.rules.signal_loss_ms = ms(s);
    }
    if let Some(s) = bridge_offline_after_s {
        config.rules.bridge_offline_ms = ms(s);
    }
    Ok(config)
}

/// One line of standard input, without its line end: a password.
fn password_from_stdin() -> Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn user_add(db: &Path, username: &str, role: &str, facility: &str, centre: &str) -> Result<()> {
    let role = ctg_hub::accounts::Role::parse(role)?;
    let password = password_from_stdin()?;
    let accounts = ctg_hub::accounts::Accounts::open(db, centre)?;
    let id = accounts.add_user(username, &password, role, facility)?;
    println!(
        "user {username} ({}, {facility}) created with id {id}",
        role.name()
    );
    Ok(())
}

/// `YYYY-MM-DD HH:MM UTC` for a time in ms since the Unix epoch.
fn utc_minute(utc_ms: i64) -> String {
    let t = ctg_devices::hl7::oru::hl7_timestamp(utc_ms);
    format!(
        "{}-{}-{} {}:{} UTC",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[8..10],
        &t[10..12]
    )
}

/// `mimamori user list`: every account, one a line, with its sign-in lock where one is in force
/// (kept in the database by the hub).
pub fn user_list(db: &Path) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    let users = accounts.list_users(ctg_hub::utc_now_ms())?;
    println!(
        "{:<24} {:<15} {:<16} {:<30} {:<13} last sign-in",
        "username", "role", "facility", "state", "second factor"
    );
    for user in &users {
        let state = match (user.disabled_ms, user.locked_until_ms) {
            (Some(at), _) => format!("disabled {}", utc_minute(at)),
            (None, Some(until)) => format!("locked to {}", utc_minute(until)),
            (None, None) => "enabled".to_owned(),
        };
        println!(
            "{:<24} {:<15} {:<16} {:<30} {:<13} {}",
            user.username,
            user.role.name(),
            user.facility,
            state,
            if user.second_factor { "yes" } else { "no" },
            user.last_signin_ms.map_or("never".to_owned(), utc_minute),
        );
    }
    println!(
        "{} accounts, {} disabled, {} locked",
        users.len(),
        users.iter().filter(|u| u.disabled_ms.is_some()).count(),
        users.iter().filter(|u| u.locked_until_ms.is_some()).count()
    );
    Ok(())
}

/// `mimamori user unlock`: lifts a sign-in lock (the running hub sees it at the next attempt).
pub fn user_unlock(db: &Path, username: &str) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    if !accounts
        .list_users(0)?
        .iter()
        .any(|u| u.username == username)
    {
        anyhow::bail!("no user {username:?}");
    }
    if accounts.unlock(username, "-")? {
        println!("user {username}: sign-in lock lifted");
    } else {
        println!("user {username} was not locked");
    }
    Ok(())
}

/// `mimamori user disable` (`disable`) and `mimamori user enable` (not).
pub fn user_disable(db: &Path, username: &str, disable: bool) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    if disable {
        accounts.disable_user(username, "-")?;
        println!(
            "user {username} disabled: sign-in refused, sessions ended (a viewer still open closes within {} s)",
            ctg_hub::api::SESSION_RECHECK.as_secs()
        );
    } else {
        accounts.enable_user(username, "-")?;
        println!("user {username} enabled");
    }
    Ok(())
}

/// `mimamori user password`: a new password from standard input.
pub fn user_password(db: &Path, username: &str) -> Result<()> {
    let password = password_from_stdin()?;
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    accounts.reset_password(username, &password, "-")?;
    println!("user {username}: new password set, sessions ended");
    Ok(())
}

/// `mimamori user totp`: enrols a user in the second factor (or removes it) and prints what
/// the user's authenticator app takes.
pub fn user_totp(db: &Path, username: &str, remove: bool) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    if remove {
        accounts.remove_second_factor(username, "-")?;
        println!("user {username}: second factor removed");
        return Ok(());
    }
    let secret = accounts.enrol_second_factor(username, "-")?;
    println!(
        "user {username}: second factor enrolled. Add it to an authenticator app (the URI as a QR code, or the secret typed in, time-based, 6 digits, 30 s):"
    );
    println!("secret {}", ctg_hub::totp::base32(&secret));
    let uri = ctg_hub::totp::otpauth_uri(&secret, username, "Mimamori");
    println!("uri {uri}");
    if let Some(qr) = ctg_hub::totp::qr_text(&uri) {
        println!("{qr}");
    }
    Ok(())
}

pub fn audit_verify(db: &Path) -> Result<()> {
    let accounts = ctg_hub::accounts::Accounts::open(db, "")?;
    let entries = accounts.verify_audit()?;
    println!("audit log intact: {entries} entries, every hash links to the one before");
    Ok(())
}
