//! Accounts, sessions, who may see what, and the hash-chained audit log.
//!
//! - Users have an argon2id password hash, a role (admin, obstetrician, midwife, facility
//!   staff) and a facility. Sessions are random 256-bit tokens (stored only as SHA-256), sent as
//!   a `Secure; HttpOnly; SameSite=Strict` cookie, expiring after [`SESSION_HOURS`].
//! - Visibility ([`User::may_see`]): the centre's staff (their facility is the configured
//!   centre) see every partner facility; everyone else sees their own facility only; admins see
//!   all. Every API route and WebSocket subscription asks this.
//! - Audit: an append-only table whose rows each carry `SHA-256(previous hash ‖ row)`, so any
//!   edit or deletion breaks the chain from there on; [`Accounts::verify_audit`] walks it
//!   (`mimamori audit verify`).
//! - Sign-in: a username that fails 5 times within 15 minutes is locked for 15 minutes
//!   ([`crate::signin_guard`]); an unknown username costs the same password hash as a known
//!   one, so neither the time nor the answer tells which exist. A user with a second factor
//!   ([`crate::totp`]) also gives the authenticator app's code.
//! - Account lifecycle: an administrator lists accounts ([`Accounts::list_users`]), disables
//!   one (someone who has left: refused at sign-in, every session ended at once) and enables it
//!   again, and sets a new password for someone who forgot theirs; every user changes their
//!   own password with the old one. A new password ends the account's other sessions. The
//!   last enabled administrator cannot be disabled (nobody could manage accounts from the
//!   browser any more). Passwords: [`MIN_PASSWORD_CHARS`]–[`MAX_PASSWORD_CHARS`] characters,
//!   not the username.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::signin_guard::{AfterFailure, GuardConfig, SigninGuard, Verdict};
use crate::utc_now_ms as now_ms;

/// Session lifetime unless the hub is told otherwise (`mimamori hub --session-hours`).
pub const SESSION_HOURS: i64 = 12;
/// The shortest and longest session lifetimes a hub may be given, hours.
pub const SESSION_HOURS_RANGE: std::ops::RangeInclusive<i64> = 1..=24;
/// How long a session renewed from the same browser stays valid beside the new one (the
/// viewer moves its WebSocket to the new one at once).
pub const RENEWED_SESSION_GRACE_MS: i64 = 120_000;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (a passphrase fits; a megabyte body is not hashed).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Whether `password` may be `username`'s password; the reason when not.
pub fn check_new_password(username: &str, password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    if chars > MAX_PASSWORD_CHARS {
        bail!("the password may have at most {MAX_PASSWORD_CHARS} characters");
    }
    if password.trim().eq_ignore_ascii_case(username) {
        bail!("the password must not be the username");
    }
    Ok(())
}

/// One account as the users page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// The facility the user belongs to.
    pub facility: String,
    /// When the account was made, ms since the Unix epoch.
    pub created_ms: i64,
    /// When the user last signed in, if ever (since the hub recorded it).
    pub last_signin_ms: Option<i64>,
    /// When the account was disabled; `None` while it is enabled.
    pub disabled_ms: Option<i64>,
    /// Whether the user has a second factor.
    pub second_factor: bool,
    /// Until when sign-in is locked after wrong passwords, if it is.
    pub locked_until_ms: Option<i64>,
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users; sees everything.
    Admin,
    /// Obstetrician (at the centre or a facility).
    Obstetrician,
    /// Midwife.
    Midwife,
    /// Other facility staff.
    FacilityStaff,
}

impl Role {
    /// Parses `admin`, `obstetrician`, `midwife`, `facility_staff`.
    pub fn parse(text: &str) -> Result<Role> {
        Ok(match text {
            "admin" => Role::Admin,
            "obstetrician" => Role::Obstetrician,
            "midwife" => Role::Midwife,
            "facility_staff" => Role::FacilityStaff,
            other => {
                bail!("unknown role {other:?}: admin, obstetrician, midwife or facility_staff")
            }
        })
    }

    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Obstetrician => "obstetrician",
            Role::Midwife => "midwife",
            Role::FacilityStaff => "facility_staff",
        }
    }
}

/// A signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// ID.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// The facility the user belongs to.
    pub facility: String,
    /// True when that facility is the centre.
    pub at_centre: bool,
}

impl User {
    /// May this user see streams and patients of `facility`?
    pub fn may_see(&self, facility: &str) -> bool {
        self.role == Role::Admin || self.at_centre || self.facility == facility
    }
}

/// The accounts database (its own connection to the hub's database file).
pub struct Accounts {
    db: Mutex<Connection>,
    centre: String,
    guard: Mutex<SigninGuard>,
    /// A hash no password matches, checked for usernames that do not exist.
    unknown_user_hash: OnceLock<String>,
    /// Password hashes checked (argon2id), since the start.
    password_checks: std::sync::atomic::AtomicU64,
    /// Whether a user without a second factor is refused.
    second_factor_required: std::sync::atomic::AtomicBool,
    /// How long a new session lasts, ms.
    session_length_ms: std::sync::atomic::AtomicI64,
}

/// What a sign-in came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signin {
    /// The password was right: the user and a new session token.
    SignedIn(User, String),
    /// Wrong username or password.
    Refused,
    /// The username is locked after too many failures, until then (ms since the Unix epoch);
    /// the password was not checked.
    Locked {
        /// When the lock ends.
        until_ms: i64,
    },
    /// The password was right and the user has a second factor: send again with the code
    /// from the authenticator app ([`crate::totp`]).
    CodeRequired,
    /// The password was right, but the hub requires a second factor and the user has none
    /// enrolled (`mimamori user totp`).
    SecondFactorMissing,
    /// The password was right, but an administrator has disabled the account.
    Disabled,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("centre", &self.centre)
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes)
}

/// The longest username a failed sign-in writes into the audit log; longer ones are cut there
/// (a sign-in body can hold megabytes, and the log is append-only).
const MAX_AUDITED_USERNAME: usize = 80;

/// `text` cut to [`MAX_AUDITED_USERNAME`] bytes (at a character boundary), with `…` where cut.
fn as_written(text: &str) -> String {
    if text.len() <= MAX_AUDITED_USERNAME {
        return text.to_owned();
    }
    let mut cut = MAX_AUDITED_USERNAME;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// An argon2id hash of `password` with a new random salt.
fn hash_password(password: &[u8]) -> Result<String> {
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password, &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
        .to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Which part of the audit log to read ([`Accounts::audit_search`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries before this one (a page further back); `None` from the newest.
    pub before_id: Option<i64>,
    /// Only this actor's (a username, or `-` for the system and failed sign-ins).
    pub actor: Option<String>,
    /// Only this action (`login`, `user_disabled`, `view_stream`, …).
    pub action: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position.
    pub id: i64,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Who (username, or `-` for the system and failed logins).
    pub actor: String,
    /// What (login, login_failed, view_stream, view_history, user_created, …).
    pub action: String,
    /// On what.
    pub target: String,
    /// This row's hash.
    pub hash: String,
}

impl Accounts {
    /// Opens the accounts tables in the database at `path`; `centre` names the centre facility.
    pub fn open(path: &Path, centre: &str) -> Result<Accounts> {
        let mut db = crate::store::open_database(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS users(
                 id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password TEXT NOT NULL,
                 role TEXT NOT NULL, facility TEXT NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS sessions(
                 token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS audit(
                 id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
                 action TEXT NOT NULL, target TEXT NOT NULL, prev_hash TEXT NOT NULL,
                 hash TEXT NOT NULL);
             CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
             CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
        )?;
        // The second factor's columns, added to a database made before them. Checked and
        // added in one write transaction: the hub and `mimamori user add` may open a new
        // database at the same moment, and the second to come must see the first's columns.
        let migration = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (column, kind) in [
            ("totp_secret", "TEXT"),
            ("totp_last_step", "INTEGER"),
            ("totp_pending", "TEXT"),
            ("disabled_ms", "INTEGER"),
            ("last_signin_ms", "INTEGER"),
            ("locked_until_ms", "INTEGER"),
        ] {
            let present: bool = migration
                .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = ?1")?
                .exists([column])?;
            if !present {
                migration
                    .execute_batch(&format!("ALTER TABLE users ADD COLUMN {column} {kind};"))?;
            }
        }
        migration.commit()?;
        // Locks made before this start stand until they end.
        let mut guard = SigninGuard::new(GuardConfig::default());
        let now = now_ms();
        {
            let mut locked = db.prepare(
                "SELECT username, locked_until_ms FROM users WHERE locked_until_ms > ?1",
            )?;
            let rows = locked.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            for row in rows {
                let (username, until_ms) = row?;
                guard.restore_lock(&username, until_ms, now);
            }
        }
        Ok(Accounts {
            db: Mutex::new(db),
            centre: centre.to_owned(),
            guard: Mutex::new(guard),
            unknown_user_hash: OnceLock::new(),
            password_checks: std::sync::atomic::AtomicU64::new(0),
            second_factor_required: std::sync::atomic::AtomicBool::new(false),
            session_length_ms: std::sync::atomic::AtomicI64::new(SESSION_HOURS * 3_600_000),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a user (the password is hashed with argon2id).
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        facility: &str,
    ) -> Result<i64> {
        if username.is_empty()
            || username.len() > 64
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
        {
            bail!("username {username:?}: 1-64 letters, digits, '-', '_', '.', '@'");
        }
        check_new_password(username, password)?;
        let hash = hash_password(password.as_bytes())?;
        let db = self.db();
        db.execute(
            "INSERT INTO users(username, password, role, facility, created_ms) VALUES(?1,?2,?3,?4,?5)",
            params![username, hash, role.name(), facility, now_ms()],
        )
        .with_context(|| format!("adding user {username:?}"))?;
        let id = db.last_insert_rowid();
        drop(db);
        self.audit(
            "-",
            "user_created",
            &format!("{username} ({}, {facility})", role.name()),
        )?;
        Ok(id)
    }

    fn user_row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<(User, String)> {
        let role: String = row.get(2)?;
        let facility: String = row.get(3)?;
        Ok((
            User {
                id: row.get(0)?,
                username: row.get(1)?,
                role: Role::parse(&role).unwrap_or(Role::FacilityStaff),
                at_centre: facility == self.centre,
                facility,
            },
            row.get(4)?,
        ))
    }

    /// Checks a password; on success a new session token (audited either way). See
    /// [`Accounts::sign_in`] for the lock.
    pub fn login(&self, username: &str, password: &str) -> Result<Option<(User, String)>> {
        Ok(match self.sign_in(username, password, None, now_ms())? {
            Signin::SignedIn(user, token) => Some((user, token)),
            _ => None,
        })
    }

    /// Signs in at `now_ms` (ms since the Unix epoch): the password checked unless the
    /// username is locked ([`crate::signin_guard`]), then, for a user with a second factor,
    /// `code` from the authenticator app ([`crate::totp`]; each 30-s code once). Audited:
    /// `login`, `login_failed` (a wrong code as `NAME (code)`), `login_locked` once when a
    /// lock begins (attempts during a lock are counted, not written, so they cannot fill the
    /// log), `login_refused` where a required second factor is missing. A wrong code counts
    /// towards the lock as a wrong password does; a missing one does not (the first step of
    /// every sign-in with a code).
    pub fn sign_in(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        now_ms: i64,
    ) -> Result<Signin> {
        if let Some(until_ms) = self.lock_in_force(username, now_ms)? {
            return Ok(Signin::Locked { until_ms });
        }
        let found = self
            .db()
            .query_row(
                "SELECT id, username, role, facility, password, disabled_ms FROM users
                 WHERE username=?1",
                [username],
                |r| Ok((self.user_row(r)?, r.get::<_, Option<i64>>(5)?.is_some())),
            )
            .optional()?;
        let (found, disabled) = match found {
            Some((found, disabled)) => (Some(found), disabled),
            None => (None, false),
        };
        let hash = match &found {
            Some((_, hash)) => hash.as_str(),
            None => self.unknown_user_hash()?,
        };
        let matches = self.password_matches(hash, password);
        let Some((user, _)) = found.filter(|_| matches) else {
            self.failed(username, username, now_ms)?;
            return Ok(Signin::Refused);
        };
        if disabled {
            // The right password: no failure to count; said plainly, since only someone who
            // knows the password learns it.
            self.audit("-", "login_refused", &format!("{username} (disabled)"))?;
            return Ok(Signin::Disabled);
        }
        let (secret, last_step): (Option<String>, Option<i64>) = self.db().query_row(
            "SELECT totp_secret, totp_last_step FROM users WHERE id=?1",
            [user.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match secret.and_then(|s| hex::decode(s).ok()) {
            Some(secret) => {
                let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                    return Ok(Signin::CodeRequired);
                };
                let step = crate::totp::check(&secret, code, now_ms, last_step);
                // Taken once: a second sign-in with the same code (or racing this one) fails.
                let taken = match step {
                    Some(step) => {
                        self.db().execute(
                            "UPDATE users SET totp_last_step=?1
                             WHERE id=?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)",
                            params![step, user.id],
                        )? == 1
                    }
                    None => false,
                };
                if !taken {
                    self.failed(username, &format!("{username} (code)"), now_ms)?;
                    return Ok(Signin::Refused);
                }
            }
            None if self
                .second_factor_required
                .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                self.audit(
                    "-",
                    "login_refused",
                    &format!("{username} (no second factor)"),
                )?;
                return Ok(Signin::SecondFactorMissing);
            }
            None => {}
        }
        self.guard().succeeded(username);
        let token = hex::encode(random_bytes::<32>()?);
        // Sessions that have ended go as new ones come (the table stays the size of the
        // sessions in use).
        self.db()
            .execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now_ms])?;
        self.db().execute(
            "INSERT INTO sessions(token_hash, user_id, expires_ms) VALUES(?1,?2,?3)",
            params![
                sha256_hex(token.as_bytes()),
                user.id,
                now_ms + self.session_length_ms()
            ],
        )?;
        self.db().execute(
            "UPDATE users SET last_signin_ms=?1 WHERE id=?2",
            params![now_ms, user.id],
        )?;
        self.audit(&user.username, "login", &user.facility)?;
        Ok(Signin::SignedIn(user, token))
    }

    /// Whether `password` matches the argon2id `hash` (one password check, counted).
    fn password_matches(&self, hash: &str, password: &str) -> bool {
        self.password_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// A failed sign-in: audited (`target`) and counted ([`Accounts::count_failure`]).
    fn failed(&self, username: &str, target: &str, now_ms: i64) -> Result<()> {
        self.audit("-", "login_failed", &as_written(target))?;
        self.count_failure(username, now_ms)
    }

    /// A wrong password (at sign-in or on the account page) counted towards `username`'s
    /// lock; the lock audited once, when it begins (`login_locked`), and kept on the account
    /// (`users.locked_until_ms`, written while the guard is held, so that
    /// [`Accounts::lock_in_force`] never sees the one without the other).
    fn count_failure(&self, username: &str, now_ms: i64) -> Result<()> {
        let mut guard = self.guard();
        if let AfterFailure::LockedNow { until_ms } = guard.failed(username, now_ms) {
            self.db().execute(
                "UPDATE users SET locked_until_ms=?1 WHERE username=?2",
                params![until_ms, username],
            )?;
            drop(guard);
            let username = as_written(username);
            self.audit("-", "login_locked", &format!("{username} until {until_ms}"))?;
            tracing::warn!(%username, "sign-in locked after repeated failures");
        }
        Ok(())
    }

    /// Until when `username` is locked at `now_ms`, if it is. For an existing account the
    /// database has the last word: a lock lifted there (`mimamori user unlock`, from another
    /// process) is lifted here too. An unknown username's lock lives in the guard only.
    fn lock_in_force(&self, username: &str, now_ms: i64) -> Result<Option<i64>> {
        let Verdict::Locked { until_ms } = self.guard().check(username, now_ms) else {
            return Ok(None);
        };
        let stored: Option<Option<i64>> = self
            .db()
            .query_row(
                "SELECT locked_until_ms FROM users WHERE username=?1",
                [username],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            Some(stored) if stored.is_none_or(|stored| stored <= now_ms) => {
                self.guard().unlock(username, now_ms);
                Ok(None)
            }
            _ => Ok(Some(until_ms)),
        }
    }

    /// How long new sessions last (`mimamori hub --session-hours`; within
    /// [`SESSION_HOURS_RANGE`]).
    pub fn set_session_hours(&self, hours: i64) -> Result<()> {
        if !SESSION_HOURS_RANGE.contains(&hours) {
            bail!(
                "a session lasts {}-{} hours, not {hours}",
                SESSION_HOURS_RANGE.start(),
                SESSION_HOURS_RANGE.end()
            );
        }
        self.session_length_ms
            .store(hours * 3_600_000, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// How long a new session lasts, ms.
    pub fn session_length_ms(&self) -> i64 {
        self.session_length_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the session of `token` ends (ms since the Unix epoch), if it is live.
    pub fn session_expires(&self, token: &str) -> Result<Option<i64>> {
        Ok(self
            .db()
            .query_row(
                "SELECT expires_ms FROM sessions WHERE token_hash=?1 AND expires_ms > ?2",
                params![sha256_hex(token.as_bytes()), now_ms()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A signed-in `user` renews their session before it ends, signing in again from the
    /// same browser (the password, and the code for a user with a second factor: everything
    /// [`Accounts::sign_in`] asks, with its lock and audit). On success the old session's
    /// token stays valid for [`RENEWED_SESSION_GRACE_MS`] at most, so the page's open
    /// connections can move to the new one.
    pub fn renew_session(
        &self,
        user: &User,
        old_token: &str,
        password: &str,
        code: Option<&str>,
        now_ms: i64,
    ) -> Result<Signin> {
        let signed = self.sign_in(&user.username, password, code, now_ms)?;
        if let Signin::SignedIn(renewed, _) = &signed {
            self.db().execute(
                "UPDATE sessions SET expires_ms = MIN(expires_ms, ?1)
                 WHERE token_hash=?2 AND user_id=?3",
                params![
                    now_ms + RENEWED_SESSION_GRACE_MS,
                    sha256_hex(old_token.as_bytes()),
                    renewed.id
                ],
            )?;
            self.audit(&user.username, "session_renewed", &user.username)?;
        }
        Ok(signed)
    }

    /// Refuses users without a second factor from now on (`mimamori hub
    /// --require-second-factor`).
    pub fn require_second_factor(&self, required: bool) {
        self.second_factor_required
            .store(required, std::sync::atomic::Ordering::Relaxed);
    }

    /// Enrols `username` in the second factor: a new random secret (any earlier one stops
    /// working), returned for the user's authenticator app ([`crate::totp::otpauth_uri`]);
    /// audited as `totp_enrolled` by `by`.
    pub fn enrol_second_factor(&self, username: &str, by: &str) -> Result<Vec<u8>> {
        let secret = random_bytes::<{ crate::totp::SECRET_BYTES }>()?.to_vec();
        let changed = self.db().execute(
            "UPDATE users SET totp_secret=?1, totp_last_step=NULL WHERE username=?2",
            params![hex::encode(&secret), username],
        )?;
        if changed != 1 {
            bail!("no user {username:?}");
        }
        self.audit(by, "totp_enrolled", username)?;
        Ok(secret)
    }

    /// A signed-in user starts enrolling in the second factor themself: a new secret, held as
    /// pending (any factor they have keeps working) until [`Accounts::confirm_second_factor`]
    /// sees a code from it; audited as `totp_started`.
    /// The user's password is asked again (a session left open, or taken, cannot replace the
    /// factor); `None` when it is wrong (audited as `totp_refused`, counted towards the lock)
    /// or the username is locked.
    pub fn start_second_factor(
        &self,
        user: &User,
        password: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>> {
        if !self.password_asked_again(user, password, now_ms, "totp_refused")? {
            return Ok(None);
        }
        let secret = random_bytes::<{ crate::totp::SECRET_BYTES }>()?.to_vec();
        self.db().execute(
            "UPDATE users SET totp_pending=?1 WHERE id=?2",
            params![hex::encode(&secret), user.id],
        )?;
        self.audit(&user.username, "totp_started", &user.username)?;
        Ok(Some(secret))
    }

    /// Whether a signed-in `user` gave their password again right (before a change to the
    /// account). A locked username is not checked (no guessing through an open session); a
    /// wrong password counts towards the lock. Either refusal is audited as `refused_action`
    /// (`locked` or `wrong password`).
    fn password_asked_again(
        &self,
        user: &User,
        password: &str,
        now_ms: i64,
        refused_action: &str,
    ) -> Result<bool> {
        if self.lock_in_force(&user.username, now_ms)?.is_some() {
            self.audit(&user.username, refused_action, "locked")?;
            return Ok(false);
        }
        let hash: String =
            self.db()
                .query_row("SELECT password FROM users WHERE id=?1", [user.id], |r| {
                    r.get(0)
                })?;
        if !self.password_matches(&hash, password) {
            self.audit(&user.username, refused_action, "wrong password")?;
            self.count_failure(&user.username, now_ms)?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Finishes a user's own enrolment: `code` must come from the pending secret (so the app
    /// has it). Then it is the user's second factor, that code's step counted as used; audited
    /// as `totp_enrolled`. Whether the code was right.
    pub fn confirm_second_factor(&self, user: &User, code: &str, now_ms: i64) -> Result<bool> {
        let pending: Option<String> = self.db().query_row(
            "SELECT totp_pending FROM users WHERE id=?1",
            [user.id],
            |r| r.get(0),
        )?;
        let Some(secret) = pending.and_then(|p| hex::decode(p).ok()) else {
            return Ok(false);
        };
        let Some(step) = crate::totp::check(&secret, code, now_ms, None) else {
            return Ok(false);
        };
        self.db().execute(
            "UPDATE users SET totp_secret=totp_pending, totp_pending=NULL, totp_last_step=?1
             WHERE id=?2",
            params![step, user.id],
        )?;
        self.audit(&user.username, "totp_enrolled", &user.username)?;
        Ok(true)
    }

    /// Whether `user` has a second factor.
    pub fn has_second_factor(&self, user: &User) -> Result<bool> {
        Ok(self
            .db()
            .query_row(
                "SELECT totp_secret IS NOT NULL FROM users WHERE id=?1",
                [user.id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// Removes `username`'s second factor (audited as `totp_removed` by `by`).
    pub fn remove_second_factor(&self, username: &str, by: &str) -> Result<()> {
        let changed = self.db().execute(
            "UPDATE users SET totp_secret=NULL, totp_last_step=NULL WHERE username=?1",
            [username],
        )?;
        if changed != 1 {
            bail!("no user {username:?}");
        }
        self.audit(by, "totp_removed", username)?;
        Ok(())
    }

    /// An administrator lifts `username`'s sign-in lock (audited as `login_unlocked` by
    /// `admin`); whether it was locked.
    pub fn unlock(&self, username: &str, admin: &str) -> Result<bool> {
        let now = now_ms();
        let stored: Option<i64> = self
            .db()
            .query_row(
                "SELECT locked_until_ms FROM users WHERE username=?1",
                [username],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        self.db().execute(
            "UPDATE users SET locked_until_ms=NULL WHERE username=?1",
            [username],
        )?;
        let was_locked =
            self.guard().unlock(username, now) | stored.is_some_and(|until| until > now);
        self.audit(
            admin,
            "login_unlocked",
            &format!("{username} (was locked: {was_locked})"),
        )?;
        Ok(was_locked)
    }

    /// Every account, by username, for an administrator ([`Account`]), at `now_ms` (for the
    /// locks).
    pub fn list_users(&self, now_ms: i64) -> Result<Vec<Account>> {
        let accounts = {
            let db = self.db();
            let mut query = db.prepare(
                "SELECT username, role, facility, created_ms, last_signin_ms, disabled_ms,
                        totp_secret IS NOT NULL, locked_until_ms
                 FROM users ORDER BY username",
            )?;
            let rows = query.query_map([], |r| {
                let role: String = r.get(1)?;
                Ok(Account {
                    username: r.get(0)?,
                    role: Role::parse(&role).unwrap_or(Role::FacilityStaff),
                    facility: r.get(2)?,
                    created_ms: r.get(3)?,
                    last_signin_ms: r.get(4)?,
                    disabled_ms: r.get(5)?,
                    second_factor: r.get(6)?,
                    // The database keeps an account's lock (written as it begins, cleared by
                    // an unlock from any process).
                    locked_until_ms: r.get::<_, Option<i64>>(7)?.filter(|until| *until > now_ms),
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        Ok(accounts)
    }

    /// Disables `username` (audited as `user_disabled` by `by`): sign-in is refused and every
    /// session of the account ends now. The last enabled administrator is refused.
    pub fn disable_user(&self, username: &str, by: &str) -> Result<()> {
        let mut db = self.db();
        let change = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (id, role, disabled): (i64, String, Option<i64>) = change
            .query_row(
                "SELECT id, role, disabled_ms FROM users WHERE username=?1",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .with_context(|| format!("no user {username:?}"))?;
        if disabled.is_some() {
            bail!("{username:?} is already disabled");
        }
        if role == Role::Admin.name() {
            let other_admins: i64 = change.query_row(
                "SELECT COUNT(*) FROM users WHERE role=?1 AND disabled_ms IS NULL AND id<>?2",
                params![Role::Admin.name(), id],
                |r| r.get(0),
            )?;
            if other_admins == 0 {
                bail!(
                    "{username:?} is the last enabled administrator: add or enable another first"
                );
            }
        }
        change.execute(
            "UPDATE users SET disabled_ms=?1 WHERE id=?2",
            params![now_ms(), id],
        )?;
        change.execute("DELETE FROM sessions WHERE user_id=?1", [id])?;
        change.commit()?;
        drop(db);
        self.audit(by, "user_disabled", username)
    }

    /// Enables a disabled `username` again (audited as `user_enabled` by `by`).
    pub fn enable_user(&self, username: &str, by: &str) -> Result<()> {
        let changed = self.db().execute(
            "UPDATE users SET disabled_ms=NULL WHERE username=?1 AND disabled_ms IS NOT NULL",
            [username],
        )?;
        if changed != 1 {
            let exists = self
                .db()
                .query_row("SELECT 1 FROM users WHERE username=?1", [username], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if exists {
                bail!("{username:?} is not disabled");
            }
            bail!("no user {username:?}");
        }
        self.audit(by, "user_enabled", username)
    }

    /// An administrator (`by`) sets a new password for `username`, who forgot theirs: every
    /// session of the account ends (audited as `password_reset`).
    pub fn reset_password(&self, username: &str, password: &str, by: &str) -> Result<()> {
        check_new_password(username, password)?;
        let id: i64 = self
            .db()
            .query_row("SELECT id FROM users WHERE username=?1", [username], |r| {
                r.get(0)
            })
            .optional()?
            .with_context(|| format!("no user {username:?}"))?;
        self.replace_password(id, password, None)?;
        self.audit(by, "password_reset", username)
    }

    /// A signed-in user changes their own password, giving the current one (a session left
    /// open, or taken, cannot change it). The account's other sessions end; the one in
    /// `keep_token` stays. `Ok(false)` when the current password is wrong (audited as
    /// `password_refused` and counted towards the lock) or the username is locked.
    pub fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep_token: &str,
        now_ms: i64,
    ) -> Result<bool> {
        check_new_password(&user.username, new)?;
        if !self.password_asked_again(user, current, now_ms, "password_refused")? {
            return Ok(false);
        }
        self.replace_password(user.id, new, Some(keep_token))?;
        self.audit(&user.username, "password_changed", &user.username)?;
        Ok(true)
    }

    /// Sets user `id`'s password and ends the account's sessions, all but `keep_token`'s
    /// where given, in one write.
    fn replace_password(&self, id: i64, password: &str, keep_token: Option<&str>) -> Result<()> {
        let hash = hash_password(password.as_bytes())?;
        let keep = keep_token.map(|token| sha256_hex(token.as_bytes()));
        let mut db = self.db();
        let change = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        change.execute(
            "UPDATE users SET password=?1 WHERE id=?2",
            params![hash, id],
        )?;
        change.execute(
            "DELETE FROM sessions WHERE user_id=?1 AND (?2 IS NULL OR token_hash<>?2)",
            params![id, keep],
        )?;
        change.commit()?;
        Ok(())
    }

    /// Password hashes checked since the start: one per sign-in not refused by a lock, known
    /// username or not.
    pub fn password_checks(&self) -> u64 {
        self.password_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Attempts refused because their username was locked, since the start.
    pub fn signins_refused_while_locked(&self) -> u64 {
        self.guard().refused_while_locked()
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, SigninGuard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hash of a random password (made once, when first needed), so an unknown username
    /// costs one argon2id check like a known one.
    fn unknown_user_hash(&self) -> Result<&str> {
        if let Some(hash) = self.unknown_user_hash.get() {
            return Ok(hash);
        }
        let hash = hash_password(&random_bytes::<32>()?)?;
        Ok(self.unknown_user_hash.get_or_init(|| hash))
    }

    /// The user of a live session token.
    pub fn session(&self, token: &str) -> Result<Option<User>> {
        if token.len() != 64 {
            return Ok(None);
        }
        Ok(self
            .db()
            .query_row(
                "SELECT u.id, u.username, u.role, u.facility, u.password FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash=?1 AND s.expires_ms > ?2 AND u.disabled_ms IS NULL",
                params![sha256_hex(token.as_bytes()), now_ms()],
                |r| self.user_row(r),
            )
            .optional()?
            .map(|(user, _)| user))
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<()> {
        self.db().execute(
            "DELETE FROM sessions WHERE token_hash=?1",
            [sha256_hex(token.as_bytes())],
        )?;
        Ok(())
    }

    /// Appends to the audit log.
    pub fn audit(&self, actor: &str, action: &str, target: &str) -> Result<()> {
        let db = self.db();
        let prev: String = db
            .query_row("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or_else(|| "0".repeat(64));
        let at_ms = now_ms();
        let hash = chain_hash(&prev, at_ms, actor, action, target);
        db.execute(
            "INSERT INTO audit(at_ms, actor, action, target, prev_hash, hash) VALUES(?1,?2,?3,?4,?5,?6)",
            params![at_ms, actor, action, target, prev, hash],
        )?;
        Ok(())
    }

    /// The audit log, newest last.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut entries = self.audit_search(&AuditQuery {
            limit,
            ..AuditQuery::default()
        })?;
        entries.reverse();
        Ok(entries)
    }

    /// A page of the audit log, newest first: entries before `query.before_id` (all when
    /// `None`), of one actor and one action where given, at most `query.limit`.
    pub fn audit_search(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT id, at_ms, actor, action, target, hash FROM audit
             WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR actor = ?2)
               AND (?3 IS NULL OR action = ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                query.before_id,
                query.actor.as_deref().filter(|a| !a.is_empty()),
                query.action.as_deref().filter(|a| !a.is_empty()),
                query.limit as i64
            ],
            |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    hash: r.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Walks the audit chain; the number of entries, or where it breaks.
    pub fn verify_audit(&self) -> Result<u64> {
        verify_audit_chain(&self.db())
    }
}

fn chain_hash(prev: &str, at_ms: i64, actor: &str, action: &str, target: &str) -> String {
    let mut row = Vec::new();
    for field in [prev, &at_ms.to_string(), actor, action, target] {
        row.extend((field.len() as u64).to_le_bytes());
        row.extend(field.as_bytes());
    }
    sha256_hex(&row)
}

/// Walks the audit chain of a database connection.
pub fn verify_audit_chain(db: &Connection) -> Result<u64> {
    let mut query = db.prepare(
        "SELECT id, at_ms, actor, action, target, prev_hash, hash FROM audit ORDER BY id",
    )?;
    let mut rows = query.query([])?;
    let mut expected_prev = "0".repeat(64);
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let (at_ms, actor, action, target): (i64, String, String, String) =
            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
        let (prev, hash): (String, String) = (row.get(5)?, row.get(6)?);
        if prev != expected_prev {
            bail!(
                "audit entry {id}: its previous-hash does not match entry before it (an entry was removed or changed)"
            );
        }
        if chain_hash(&prev, at_ms, &actor, &action, &target) != hash {
            bail!("audit entry {id}: its content does not match its hash (it was changed)");
        }
        expected_prev = hash;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub and `mimamori user add` may open a new database at the same moment: every
    /// opener succeeds, and the columns are there once.
    #[test]
    fn many_openers_of_a_new_database_at_once_all_succeed() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("hub.db");
            let start = std::sync::Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Accounts::open(&path, "centre").map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                opener
                    .join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            }
        }
    }

    #[test]
    fn passwords_sessions_and_visibility() {
        let (_dir, accounts) = accounts_with_midwife();
        accounts
            .add_user("ob-c", "battery staple", Role::Obstetrician, "centre")
            .unwrap();
        assert!(accounts.add_user("x", "short", Role::Midwife, "a").is_err());
        assert!(accounts.login("mw-a", "wrong password").unwrap().is_none());
        let (user, token) = accounts.login("mw-a", "correct horse").unwrap().unwrap();
        assert_eq!(accounts.session(&token).unwrap(), Some(user.clone()));
        assert!(user.may_see("clinic-a") && !user.may_see("clinic-b"));
        let (centre, _) = accounts.login("ob-c", "battery staple").unwrap().unwrap();
        assert!(centre.may_see("clinic-a") && centre.may_see("clinic-b"));
        accounts.logout(&token).unwrap();
        assert_eq!(accounts.session(&token).unwrap(), None);
        assert_eq!(accounts.session("not a token").unwrap(), None);
    }

    #[test]
    fn new_passwords_have_a_length_and_are_not_the_username() {
        assert!(check_new_password("mw-a", "correct horse").is_ok());
        assert!(check_new_password("mw-a", "seven77").is_err());
        // Characters, not bytes: eight kana are a password.
        assert!(check_new_password("mw-a", "みまもりみまもり").is_ok());
        assert!(check_new_password("mw-a", &"x".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_new_password("mw-a", &"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(check_new_password("midwife-a", "MIDWIFE-A").is_err());
    }

    /// A new accounts database in a temporary folder (kept while the first value lives) with
    /// `mw-a`, a clinic-a midwife whose password is "correct horse".
    fn accounts_with_midwife() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("a.db"), "centre").unwrap();
        accounts
            .add_user("mw-a", "correct horse", Role::Midwife, "clinic-a")
            .unwrap();
        (dir, accounts)
    }

    fn actions(accounts: &Accounts) -> Vec<(String, String, String)> {
        accounts
            .audit_log(1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.target))
            .collect()
    }

    /// Asserts that each (actor, action, target) is in the audit log.
    fn assert_audited(accounts: &Accounts, expected: &[(&str, &str, &str)]) {
        let log = actions(accounts);
        for entry in expected {
            assert!(
                log.iter()
                    .any(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()) == *entry),
                "{entry:?} in {log:?}"
            );
        }
    }

    #[test]
    fn a_disabled_account_cannot_sign_in_and_its_sessions_end_until_it_is_enabled() {
        let (_dir, accounts) = accounts_with_midwife();
        accounts
            .add_user("admin", "battery staple", Role::Admin, "centre")
            .unwrap();
        let (_, phone) = accounts.login("mw-a", "correct horse").unwrap().unwrap();
        let (_, desk) = accounts.login("mw-a", "correct horse").unwrap().unwrap();
        let listed = accounts.list_users(now_ms()).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|a| a.username.as_str())
                .collect::<Vec<_>>(),
            ["admin", "mw-a"]
        );
        assert!(listed[1].last_signin_ms.is_some() && listed[0].last_signin_ms.is_none());
        assert_eq!(listed[1].disabled_ms, None);

        accounts.disable_user("mw-a", "admin").unwrap();
        assert_eq!(accounts.session(&phone).unwrap(), None);
        assert_eq!(accounts.session(&desk).unwrap(), None);
        // The right password is told the account is disabled; a wrong one is told no more
        // than before.
        assert_eq!(
            accounts
                .sign_in("mw-a", "correct horse", None, now_ms())
                .unwrap(),
            Signin::Disabled
        );
        assert_eq!(
            accounts
                .sign_in("mw-a", "wrong guess", None, now_ms())
                .unwrap(),
            Signin::Refused
        );
        assert!(
            accounts.list_users(now_ms()).unwrap()[1]
                .disabled_ms
                .is_some()
        );
        assert!(accounts.disable_user("mw-a", "admin").is_err(), "twice");
        assert!(accounts.disable_user("nobody", "admin").is_err());

        accounts.enable_user("mw-a", "admin").unwrap();
        assert!(accounts.login("mw-a", "correct horse").unwrap().is_some());
        assert!(
            accounts.enable_user("mw-a", "admin").is_err(),
            "not disabled"
        );
        assert_audited(
            &accounts,
            &[
                ("admin", "user_disabled", "mw-a"),
                ("-", "login_refused", "mw-a (disabled)"),
                ("admin", "user_enabled", "mw-a"),
            ],
        );
    }

    #[test]
    fn the_last_enabled_administrator_cannot_be_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("a.db"), "centre").unwrap();
        for name in ["admin-1", "admin-2"] {
            accounts
                .add_user(name, "battery staple", Role::Admin, "centre")
                .unwrap();
        }
        accounts.disable_user("admin-1", "admin-2").unwrap();
        let error = format!(
            "{:#}",
            accounts.disable_user("admin-2", "admin-2").unwrap_err()
        );
        assert!(error.contains("last enabled administrator"), "{error}");
        accounts.enable_user("admin-1", "admin-2").unwrap();
        accounts.disable_user("admin-2", "admin-1").unwrap();
    }

    #[test]
    fn a_reset_or_changed_password_ends_the_other_sessions() {
        let (_dir, accounts) = accounts_with_midwife();
        let (_, before) = accounts.login("mw-a", "correct horse").unwrap().unwrap();
        assert!(accounts.reset_password("mw-a", "short", "admin").is_err());
        accounts
            .reset_password("mw-a", "a new start", "admin")
            .unwrap();
        assert_eq!(accounts.session(&before).unwrap(), None);
        assert!(accounts.login("mw-a", "correct horse").unwrap().is_none());
        let (user, here) = accounts.login("mw-a", "a new start").unwrap().unwrap();
        let (_, elsewhere) = accounts.login("mw-a", "a new start").unwrap().unwrap();

        // Her own change: the current password is asked, and a wrong one counts.
        let now = now_ms();
        assert!(
            !accounts
                .change_password(&user, "not it at all", "mine alone", &here, now)
                .unwrap()
        );
        assert!(
            accounts
                .change_password(&user, "a new start", "mw-a", &here, now)
                .is_err(),
            "the username is not a password"
        );
        assert!(
            accounts
                .change_password(&user, "a new start", "mine alone", &here, now)
                .unwrap()
        );
        assert_eq!(accounts.session(&here).unwrap(), Some(user.clone()));
        assert_eq!(accounts.session(&elsewhere).unwrap(), None);
        assert!(accounts.login("mw-a", "mine alone").unwrap().is_some());
        // Five wrong current passwords (the sign-in above forgot the first) lock the
        // username, for sign-in too.
        for _ in 0..5 {
            accounts
                .change_password(&user, "not it at all", "whatever else", &here, now)
                .unwrap();
        }
        assert!(matches!(
            accounts.sign_in("mw-a", "mine alone", None, now).unwrap(),
            Signin::Locked { .. }
        ));
        assert!(
            accounts.list_users(now).unwrap()[0]
                .locked_until_ms
                .is_some()
        );
        assert_audited(
            &accounts,
            &[
                ("admin", "password_reset", "mw-a"),
                ("mw-a", "password_refused", "wrong password"),
                ("mw-a", "password_changed", "mw-a"),
            ],
        );
    }

    /// A lock on an account outlives a restart of the hub (the accounts opened again on the
    /// same database), `mimamori user list` in another process sees it, and an unlock from
    /// another process lifts it for the running hub at its next attempt. An unknown
    /// username's lock stays in memory.
    #[test]
    fn a_sign_in_lock_outlives_a_restart_and_an_unlock_elsewhere_lifts_it() {
        let (dir, hub) = accounts_with_midwife();
        let path = dir.path().join("a.db");
        let now = now_ms();
        for _ in 0..5 {
            assert_eq!(
                hub.sign_in("mw-a", "wrong guess", None, now).unwrap(),
                Signin::Refused
            );
            hub.sign_in("nobody", "wrong guess", None, now).unwrap();
        }
        let locked = |accounts: &Accounts, who: &str| {
            matches!(
                accounts
                    .sign_in(who, "correct horse", None, now_ms())
                    .unwrap(),
                Signin::Locked { .. }
            )
        };
        assert!(locked(&hub, "mw-a") && locked(&hub, "nobody"));
        drop(hub);

        let restarted = Accounts::open(&path, "centre").unwrap();
        assert!(locked(&restarted, "mw-a"), "the lock survives the restart");
        assert!(!locked(&restarted, "nobody"));
        let until = restarted.list_users(now_ms()).unwrap()[0].locked_until_ms;
        assert!(
            until.is_some_and(|u| u > now_ms() + 14 * 60_000),
            "{until:?}"
        );

        // Another process (the CLI) lifts it; the running hub takes that up.
        let cli = Accounts::open(&path, "centre").unwrap();
        assert!(
            cli.list_users(now_ms()).unwrap()[0]
                .locked_until_ms
                .is_some()
        );
        assert!(cli.unlock("mw-a", "-").unwrap());
        assert!(!cli.unlock("mw-a", "-").unwrap(), "already lifted");
        assert!(matches!(
            restarted
                .sign_in("mw-a", "correct horse", None, now_ms())
                .unwrap(),
            Signin::SignedIn(..)
        ));
        assert_eq!(
            restarted.list_users(now_ms()).unwrap()[0].locked_until_ms,
            None
        );
        assert_audited(
            &restarted,
            &[("-", "login_unlocked", "mw-a (was locked: true)")],
        );
        // A lock whose time has passed is not taken up at a start.
        let mut guard = SigninGuard::new(GuardConfig::default());
        guard.restore_lock("mw-a", now - 1, now);
        assert_eq!(guard.tracked(), 0);
    }

    #[test]
    fn a_session_lasts_the_hubs_hours_and_is_renewed_by_signing_in_again() {
        let (_dir, accounts) = accounts_with_midwife();
        assert!(accounts.set_session_hours(0).is_err());
        assert!(accounts.set_session_hours(25).is_err());
        accounts.set_session_hours(8).unwrap();
        let t0 = now_ms();
        let Signin::SignedIn(user, old) =
            accounts.sign_in("mw-a", "correct horse", None, t0).unwrap()
        else {
            panic!("signs in")
        };
        assert_eq!(
            accounts.session_expires(&old).unwrap(),
            Some(t0 + 8 * 3_600_000)
        );
        // Renewed 7 h 50 min later: a wrong password changes nothing (and counts).
        let later = t0 + 470 * 60_000;
        assert_eq!(
            accounts
                .renew_session(&user, &old, "wrong guess", None, later)
                .unwrap(),
            Signin::Refused
        );
        assert_eq!(
            accounts.session_expires(&old).unwrap(),
            Some(t0 + 8 * 3_600_000)
        );
        let Signin::SignedIn(_, new) = accounts
            .renew_session(&user, &old, "correct horse", None, later)
            .unwrap()
        else {
            panic!("renewed")
        };
        assert_eq!(
            accounts.session_expires(&new).unwrap(),
            Some(later + 8 * 3_600_000)
        );
        assert_eq!(
            accounts.session_expires(&old).unwrap(),
            Some(later + RENEWED_SESSION_GRACE_MS)
        );
        assert!(
            actions(&accounts)
                .iter()
                .any(|(a, b, _)| a == "mw-a" && b == "session_renewed")
        );
        // Ended sessions are cleared as new ones begin.
        let next_day = t0 + 30 * 3_600_000;
        accounts
            .sign_in("mw-a", "correct horse", None, next_day)
            .unwrap();
        assert_eq!(accounts.session_expires(&old).unwrap(), None);
        assert_eq!(accounts.session_expires(&new).unwrap(), None);
    }

    #[test]
    fn the_audit_log_reads_a_page_at_a_time_newest_first_and_by_actor_or_action() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("a.db"), "centre").unwrap();
        for n in 0..10 {
            let actor = if n % 2 == 0 { "mw-a" } else { "ob-c" };
            accounts
                .audit(actor, "view_stream", &n.to_string())
                .unwrap();
        }
        accounts.audit("admin", "user_disabled", "mw-a").unwrap();
        let targets = |query: AuditQuery| -> Vec<String> {
            accounts
                .audit_search(&query)
                .unwrap()
                .into_iter()
                .map(|e| e.target)
                .collect()
        };
        let first = accounts
            .audit_search(&AuditQuery {
                limit: 4,
                ..AuditQuery::default()
            })
            .unwrap();
        assert_eq!(
            first.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["mw-a", "9", "8", "7"]
        );
        assert_eq!(
            targets(AuditQuery {
                before_id: Some(first[3].id),
                limit: 4,
                ..AuditQuery::default()
            }),
            ["6", "5", "4", "3"]
        );
        assert_eq!(
            targets(AuditQuery {
                actor: Some("mw-a".into()),
                limit: 100,
                ..AuditQuery::default()
            }),
            ["8", "6", "4", "2", "0"]
        );
        assert_eq!(
            targets(AuditQuery {
                action: Some("user_disabled".into()),
                actor: Some(String::new()),
                limit: 100,
                ..AuditQuery::default()
            }),
            ["mw-a"]
        );
    }

    #[test]
    fn the_audit_chain_verifies_and_breaks_on_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let accounts = Accounts::open(&path, "centre").unwrap();
        accounts
            .add_user("mw-a", "correct horse", Role::Midwife, "clinic-a")
            .unwrap();
        accounts.login("mw-a", "correct horse").unwrap();
        accounts.login("mw-a", "nope nope").unwrap();
        accounts.audit("mw-a", "view_stream", "1").unwrap();
        assert_eq!(accounts.verify_audit().unwrap(), 4);
        // The log refuses edits through SQL …
        let db = Connection::open(&path).unwrap();
        assert!(
            db.execute("UPDATE audit SET actor='someone' WHERE id=2", [])
                .is_err()
        );
        assert!(db.execute("DELETE FROM audit WHERE id=2", []).is_err());
        // … and someone who drops the triggers and edits the file is caught by the chain.
        db.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET target='2' WHERE id=4;")
            .unwrap();
        let error = format!("{:#}", accounts.verify_audit().unwrap_err());
        assert!(error.contains("entry 4"), "{error}");
    }
}
