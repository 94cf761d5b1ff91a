//! The alert dispatcher's async shell: keeps the on-call rosters, people's channels and push
//! subscriptions in the database, feeds alert changes to [`ctg_alerts::dispatch::Dispatcher`],
//! carries out its deliveries (Web Push, signed webhooks, e-mail) and reports each outcome
//! back, stores every dispatch step (`alert_log`), and turns a channel that keeps failing into
//! a technical alert on the wall.
//!
//! Webhook signature: `X-Mimamori-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "."
//! body)>` with `X-Mimamori-Timestamp: <ms>`; the secret is generated once per hub and shown to
//! admins (`GET /api/oncall`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use ctg_alerts::dispatch::{Channel, Delivery, Dispatcher, LogEntry, Person, Policy, Roster};
use ctg_alerts::{Alert, AlertKind};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

/// A browser's push subscription.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct PushSubscription {
    /// The push service URL.
    pub endpoint: String,
    /// Its keys (base64url), as `PushSubscription.toJSON()` gives them.
    pub keys: PushKeys,
}

/// The keys of a push subscription.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct PushKeys {
    /// The browser's P-256 public key.
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

/// The rosters by facility, and every person's channels by name.
pub type OnCall = (BTreeMap<String, Roster>, BTreeMap<String, Vec<Channel>>);

/// E-mail settings (SMTP).
#[derive(Clone, Debug)]
pub struct Smtp {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The sender address.
    pub from: String,
}

/// The notifier.
pub struct Notifier {
    dispatcher: Mutex<Dispatcher>,
    db: Mutex<Connection>,
    http: reqwest::Client,
    vapid: crate::webpush::Vapid,
    webhook_secret: Vec<u8>,
    smtp: Mutex<Option<Smtp>>,
    /// Alerts the dispatcher reported as failing channels, for the hub to raise.
    failing: Mutex<Vec<(String, String)>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Alerts needing attention a restarting hub takes up at most (the newest; the rules keep as
/// many in memory).
pub const HELD_AT_MOST: usize = 10_000;

/// Alert IDs reserved at a time ([`Notifier::reserve_alert_ids`]): one write per this many
/// alerts; a restart skips what was reserved and not used.
pub const ALERT_ID_BLOCK: u64 = 1000;

impl Notifier {
    /// Opens the notifier's tables in the hub's database and loads rosters, people and
    /// subscriptions into a dispatcher for `centre`.
    pub fn open(path: &Path, centre: &str, policy: Policy) -> Result<Self> {
        let db = crate::store::open_database(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS oncall_rosters(facility TEXT PRIMARY KEY, roster TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS oncall_people(name TEXT PRIMARY KEY, channels TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS push_subscriptions(
                 id INTEGER PRIMARY KEY, username TEXT NOT NULL, endpoint TEXT NOT NULL UNIQUE,
                 p256dh TEXT NOT NULL, auth TEXT NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS alert_log(
                 id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, alert_id INTEGER NOT NULL, entry TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS alert_log_by_alert ON alert_log(alert_id, id);
             CREATE TABLE IF NOT EXISTS alerts(
                 id INTEGER PRIMARY KEY, raised_ms INTEGER NOT NULL, settled INTEGER NOT NULL,
                 alert TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS alerts_unsettled ON alerts(settled, id);
             CREATE TABLE IF NOT EXISTS hub_keys(name TEXT PRIMARY KEY, value BLOB NOT NULL);",
        )?;
        let key = |name: &str, make: &dyn Fn() -> Result<Vec<u8>>| -> Result<Vec<u8>> {
            let found: Option<Vec<u8>> = db
                .query_row("SELECT value FROM hub_keys WHERE name=?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            match found {
                Some(v) => Ok(v),
                None => {
                    let v = make()?;
                    db.execute(
                        "INSERT INTO hub_keys(name, value) VALUES(?1, ?2)",
                        params![name, v],
                    )?;
                    Ok(v)
                }
            }
        };
        let vapid_pkcs8 = key("vapid", &|| Ok(crate::webpush::Vapid::generate_pkcs8()?))?;
        let webhook_secret = key("webhook_secret", &|| {
            let mut secret = vec![0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                .map_err(|_| anyhow::anyhow!("no randomness"))?;
            Ok(secret)
        })?;
        let vapid =
            crate::webpush::Vapid::from_pkcs8(&vapid_pkcs8, "mailto:oncall@mimamori.invalid")?;
        let mut dispatcher = Dispatcher::new(policy, centre);
        {
            let mut q = db.prepare("SELECT facility, roster FROM oncall_rosters")?;
            for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (facility, roster) = row?;
                dispatcher.set_roster(&facility, serde_json::from_str(&roster)?);
            }
            let mut q = db.prepare("SELECT name, channels FROM oncall_people")?;
            for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
                let (name, channels) = row?;
                dispatcher.set_person(Person {
                    name,
                    channels: serde_json::from_str(&channels)?,
                });
            }
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(ctg_tls::quic::web_client_config())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            dispatcher: Mutex::new(dispatcher),
            db: Mutex::new(db),
            http,
            vapid,
            webhook_secret,
            smtp: Mutex::new(None),
            failing: Mutex::new(Vec::new()),
        })
    }

    /// Sends e-mail through this SMTP server from now on.
    pub fn set_smtp(&self, smtp: Option<Smtp>) {
        *lock(&self.smtp) = smtp;
    }

    /// The VAPID public key (the browser's `applicationServerKey`).
    pub fn vapid_public_key(&self) -> String {
        self.vapid.public_key()
    }

    /// The webhook signing secret, hex (for admins to give to the receiving gateway).
    pub fn webhook_secret_hex(&self) -> String {
        hex::encode(&self.webhook_secret)
    }

    /// Replaces a facility's roster (stored).
    pub fn set_roster(&self, facility: &str, roster: Roster) -> Result<()> {
        lock(&self.db).execute(
            "INSERT INTO oncall_rosters(facility, roster) VALUES(?1, ?2)
             ON CONFLICT(facility) DO UPDATE SET roster=excluded.roster",
            params![facility, serde_json::to_string(&roster)?],
        )?;
        lock(&self.dispatcher).set_roster(facility, roster);
        Ok(())
    }

    /// Replaces a person's channels (stored; her push subscriptions are kept).
    pub fn set_channels(&self, name: &str, mut channels: Vec<Channel>) -> Result<()> {
        channels.retain(|c| !matches!(c, Channel::WebPush(_)));
        let db = lock(&self.db);
        let mut q =
            db.prepare("SELECT id FROM push_subscriptions WHERE username=?1 ORDER BY id")?;
        for id in q.query_map([name], |r| r.get::<_, i64>(0))? {
            channels.push(Channel::WebPush(format!("subscription {}", id?)));
        }
        db.execute(
            "INSERT INTO oncall_people(name, channels) VALUES(?1, ?2)
             ON CONFLICT(name) DO UPDATE SET channels=excluded.channels",
            params![name, serde_json::to_string(&channels)?],
        )?;
        drop(q);
        drop(db);
        lock(&self.dispatcher).set_person(Person {
            name: name.to_owned(),
            channels,
        });
        Ok(())
    }

    /// A person's channels.
    pub fn channels(&self, name: &str) -> Result<Vec<Channel>> {
        let found: Option<String> = lock(&self.db)
            .query_row(
                "SELECT channels FROM oncall_people WHERE name=?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found
            .map(|c| serde_json::from_str(&c))
            .transpose()?
            .unwrap_or_default())
    }

    /// Stores a browser's push subscription for `username` and adds it to her channels.
    pub fn subscribe(&self, username: &str, subscription: &PushSubscription) -> Result<i64> {
        let p256dh = crate::webpush::decode_key(&subscription.keys.p256dh)
            .context("p256dh is not base64url")?;
        let auth =
            crate::webpush::decode_key(&subscription.keys.auth).context("auth is not base64url")?;
        anyhow::ensure!(
            p256dh.len() == 65 && auth.len() == 16,
            "not a browser push subscription"
        );
        anyhow::ensure!(
            subscription.endpoint.starts_with("https://")
                || subscription.endpoint.starts_with("http://127.0.0.1"),
            "a push endpoint must be https"
        );
        let id = {
            let db = lock(&self.db);
            db.execute(
                "INSERT INTO push_subscriptions(username, endpoint, p256dh, auth, created_ms) VALUES(?1,?2,?3,?4,?5)
                 ON CONFLICT(endpoint) DO UPDATE SET username=excluded.username, p256dh=excluded.p256dh, auth=excluded.auth",
                params![username, subscription.endpoint, subscription.keys.p256dh, subscription.keys.auth, crate::utc_now_ms()],
            )?;
            db.query_row(
                "SELECT id FROM push_subscriptions WHERE endpoint=?1",
                [&subscription.endpoint],
                |r| r.get::<_, i64>(0),
            )?
        };
        let channels = self.channels(username)?;
        self.set_channels(username, channels)?;
        Ok(id)
    }

    /// The rosters, and every person's channels.
    pub fn oncall(&self) -> Result<OnCall> {
        let rosters = lock(&self.dispatcher).rosters().clone();
        let db = lock(&self.db);
        let mut q = db.prepare("SELECT name, channels FROM oncall_people ORDER BY name")?;
        let mut people = BTreeMap::new();
        for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (name, channels) = row?;
            people.insert(name, serde_json::from_str(&channels)?);
        }
        Ok((rosters, people))
    }

    /// An alert change from the rules.
    pub fn on_alert(&self, alert: &Alert, now: i64) {
        lock(&self.dispatcher).on_alert(alert, now);
    }

    /// Snoozes an alert's calls.
    pub fn snooze(
        &self,
        id: u64,
        by: &str,
        reason: &str,
        minutes: i64,
        now: i64,
    ) -> Result<i64, ctg_alerts::dispatch::SnoozeError> {
        lock(&self.dispatcher).snooze(id, by, reason, minutes * 60_000, now)
    }

    /// Reserves alert IDs up to `at_least` + [`ALERT_ID_BLOCK`] (kept in `hub_keys`, so a
    /// restart goes on above every ID this hub has handed out or logged) and returns where the
    /// IDs not yet reserved began: start the alert engine after it.
    pub fn reserve_alert_ids(&self, at_least: u64) -> Result<u64> {
        let db = lock(&self.db);
        let stored: Option<Vec<u8>> = db
            .query_row(
                "SELECT value FROM hub_keys WHERE name='alert_ids_reserved'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let stored = stored
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        let logged: Option<i64> =
            db.query_row("SELECT MAX(alert_id) FROM alert_log", [], |r| r.get(0))?;
        let from = stored.max(logged.unwrap_or(0).max(0) as u64);
        let until = from.max(at_least) + ALERT_ID_BLOCK;
        db.execute(
            "INSERT INTO hub_keys(name, value) VALUES('alert_ids_reserved', ?1)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![until.to_be_bytes().to_vec()],
        )?;
        Ok(from)
    }

    /// Stores alerts as they are now (one row per alert ID, replaced at every change), in one
    /// transaction: the hub stores a change before it tells anyone of it, so what a restarted
    /// hub takes up ([`Notifier::held_alerts`]) is what had been told.
    pub fn store_alerts(&self, alerts: &[Alert]) -> Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut db = lock(&self.db);
        let tx = db.transaction()?;
        for alert in alerts {
            tx.execute(
                "INSERT INTO alerts(id, raised_ms, settled, alert) VALUES(?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET settled=excluded.settled, alert=excluded.alert",
                params![
                    alert.id as i64,
                    alert.raised_ms,
                    !alert.needs_attention(),
                    serde_json::to_string(alert)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// What a restarting hub takes up ([`ctg_alerts::AlertEngine::restore`]): every stored alert
    /// someone still has to deal with (the newest [`HELD_AT_MOST`]), and the prolonged
    /// decelerations raised since `prolonged_since_ms` whatever their state. A row that cannot
    /// be read is logged and skipped.
    pub fn held_alerts(&self, prolonged_since_ms: i64) -> Result<Vec<Alert>> {
        let db = lock(&self.db);
        let mut q = db.prepare(
            "SELECT id, alert FROM (SELECT id, alert FROM alerts WHERE settled=0
                                    ORDER BY id DESC LIMIT ?1)
             UNION SELECT id, alert FROM alerts WHERE settled=1 AND raised_ms >= ?2",
        )?;
        let rows = q.query_map(params![HELD_AT_MOST as i64, prolonged_since_ms], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut held = Vec::new();
        for row in rows {
            let (id, json) = row?;
            match serde_json::from_str::<Alert>(&json) {
                Ok(alert) if alert.needs_attention() => held.push(alert),
                Ok(alert) if matches!(alert.kind, AlertKind::ProlongedDeceleration { .. }) => {
                    held.push(alert)
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(id, %error, "a stored alert could not be read: not taken up")
                }
            }
        }
        Ok(held)
    }

    /// Keeps what the alert rules watch for going quiet ([`ctg_alerts::Watched`]), with the
    /// time, for a restart to go on watching it.
    pub fn store_watched(&self, watched: &ctg_alerts::Watched, now: i64) -> Result<()> {
        let value = serde_json::to_vec(&json!({"at_ms": now, "watched": watched}))?;
        lock(&self.db).execute(
            "INSERT INTO hub_keys(name, value) VALUES('watched', ?1)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![value],
        )?;
        Ok(())
    }

    /// What the alert rules last watched, and when it was kept (the last sign of the hub
    /// running before a start), if ever.
    pub fn kept_watched(&self) -> Result<Option<(i64, ctg_alerts::Watched)>> {
        let stored: Option<Vec<u8>> = lock(&self.db)
            .query_row("SELECT value FROM hub_keys WHERE name='watched'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_slice(&stored)?;
        let Some(at) = value["at_ms"].as_i64() else {
            return Ok(None);
        };
        Ok(Some((
            at,
            serde_json::from_value(value["watched"].clone())?,
        )))
    }

    /// Takes up the calling of an alert held before a restart where its stored log left it
    /// ([`Dispatcher::resume`]).
    pub fn resume(&self, alert: &Alert, now: i64) -> Result<()> {
        let history: Vec<LogEntry> = self
            .log(alert.id)?
            .into_iter()
            .filter_map(|entry| serde_json::from_value(entry).ok())
            .collect();
        lock(&self.dispatcher).resume(alert, &history, now);
        Ok(())
    }

    /// The dispatch log of an alert, oldest first.
    pub fn log(&self, alert: u64) -> Result<Vec<serde_json::Value>> {
        let db = lock(&self.db);
        let mut q = db.prepare("SELECT entry FROM alert_log WHERE alert_id=?1 ORDER BY id")?;
        let rows = q.query_map([alert as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Channels found failing since the last call: (facility, channel words).
    pub fn take_failing(&self) -> Vec<(String, String)> {
        std::mem::take(&mut lock(&self.failing))
    }

    fn store_log(&self, entries: Vec<LogEntry>, now: i64) {
        if entries.is_empty() {
            return;
        }
        let mut db = lock(&self.db);
        let result = (|| -> Result<()> {
            let tx = db.transaction()?;
            for entry in &entries {
                let alert = match entry {
                    LogEntry::Notified { alert, .. }
                    | LogEntry::NoChannel { alert, .. }
                    | LogEntry::NobodyOnCall { alert, .. }
                    | LogEntry::Attempt { alert, .. }
                    | LogEntry::Snoozed { alert, .. }
                    | LogEntry::Resumed { alert, .. }
                    | LogEntry::Acknowledged { alert, .. } => *alert,
                };
                tx.execute(
                    "INSERT INTO alert_log(at_ms, alert_id, entry) VALUES(?1,?2,?3)",
                    params![now, alert as i64, serde_json::to_string(entry)?],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(error) = result {
            tracing::error!(error = format!("{error:#}"), "the alert log was not stored");
        }
    }

    /// Runs the dispatcher: every 100 ms, due deliveries go out (each on its own task) and
    /// their outcomes come back.
    pub async fn run(self: Arc<Self>) {
        let mut clock = tokio::time::interval(Duration::from_millis(100));
        loop {
            clock.tick().await;
            let now = crate::utc_now_ms();
            let (due, log, failing) = {
                let mut d = lock(&self.dispatcher);
                let due = d.tick(now);
                (due, d.take_log(), d.take_failing())
            };
            if !log.is_empty() {
                let notifier = self.clone();
                tokio::task::spawn_blocking(move || notifier.store_log(log, now));
            }
            for channel in failing {
                let words = format!("{} {}", channel.name(), channel_address(&channel));
                lock(&self.failing).push((String::new(), words));
            }
            for delivery in due {
                let notifier = self.clone();
                tokio::spawn(async move {
                    let outcome = notifier.send(&delivery).await.map_err(|e| format!("{e:#}"));
                    if let Err(error) = &outcome {
                        tracing::warn!(alert = delivery.alert.id, channel = ?delivery.channel, attempt = delivery.attempt, %error, "alert delivery failed");
                    }
                    let facility = delivery.alert.subject.facility().to_owned();
                    let mut d = lock(&notifier.dispatcher);
                    d.delivered(delivery.id, outcome, crate::utc_now_ms());
                    for channel in d.take_failing() {
                        let words = format!("{} {}", channel.name(), channel_address(&channel));
                        lock(&notifier.failing).push((facility.clone(), words));
                    }
                });
            }
        }
    }

    async fn send(&self, delivery: &Delivery) -> Result<()> {
        let payload = payload(delivery);
        match &delivery.channel {
            Channel::Webhook(url) => {
                let body = serde_json::to_vec(&payload)?;
                let timestamp = crate::utc_now_ms().to_string();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.webhook_secret);
                let mut signed = timestamp.as_bytes().to_vec();
                signed.push(b'.');
                signed.extend_from_slice(&body);
                let signature = hex::encode(ring::hmac::sign(&key, &signed).as_ref());
                let response = self
                    .http
                    .post(url)
                    .header("Content-Type", "application/json")
                    .header("X-Mimamori-Timestamp", timestamp)
                    .header("X-Mimamori-Signature", format!("sha256={signature}"))
                    .header("X-Mimamori-Delivery", delivery.id.to_string())
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "webhook answered {}",
                    response.status()
                );
                Ok(())
            }
            Channel::WebPush(name) => {
                let id: i64 = name
                    .strip_prefix("subscription ")
                    .and_then(|n| n.parse().ok())
                    .context("not a subscription")?;
                let row: Option<(String, String, String)> = lock(&self.db)
                    .query_row(
                        "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE id=?1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let (endpoint, p256dh, auth) = row.context("the subscription is gone")?;
                let body = crate::webpush::encrypt(
                    &crate::webpush::decode_key(&p256dh).context("p256dh")?,
                    &crate::webpush::decode_key(&auth).context("auth")?,
                    &serde_json::to_vec(&payload)?,
                )?;
                let expires = crate::utc_now_ms() / 1000 + 12 * 3600;
                let response = self
                    .http
                    .post(&endpoint)
                    .header(
                        "Authorization",
                        self.vapid.authorization(&endpoint, expires)?,
                    )
                    .header("Content-Encoding", "aes128gcm")
                    .header("Content-Type", "application/octet-stream")
                    .header("TTL", "600")
                    .header(
                        "Urgency",
                        if delivery.severity >= ctg_alerts::dispatch::Severity::Prepare {
                            "high"
                        } else {
                            "normal"
                        },
                    )
                    .body(body)
                    .send()
                    .await?;
                if matches!(response.status().as_u16(), 404 | 410) {
                    lock(&self.db).execute("DELETE FROM push_subscriptions WHERE id=?1", [id])?;
                }
                anyhow::ensure!(
                    response.status().is_success(),
                    "push service answered {}",
                    response.status()
                );
                Ok(())
            }
            Channel::Email(address) => {
                let smtp = lock(&self.smtp)
                    .clone()
                    .context("no SMTP server is configured")?;
                crate::mail::send(&smtp, address, &payload).await
            }
        }
    }
}

fn channel_address(channel: &Channel) -> &str {
    match channel {
        Channel::WebPush(a) | Channel::Email(a) | Channel::Webhook(a) => a,
    }
}

/// What every channel carries: the alert, why now, for whom.
pub fn payload(delivery: &Delivery) -> serde_json::Value {
    let alert = &delivery.alert;
    let kind = match &alert.kind {
        AlertKind::JsogLevel { level } => format!("JSOG level {level}"),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v["kind"].as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    };
    let (stream, place) = match &alert.subject {
        ctg_alerts::Subject::Stream {
            id,
            facility,
            fetus,
        } => {
            // A twin's alert names its fetal channel.
            let fetus = fetus
                .as_deref()
                .map(|f| format!(", {}", f.to_ascii_uppercase()))
                .unwrap_or_default();
            (Some(*id), format!("{facility}, stream {id}{fetus}"))
        }
        ctg_alerts::Subject::Bridge { name, facility } => (None, format!("{facility}, {name}")),
    };
    let (name_ja, detail_ja) = crate::phrases::alert_words(alert, "ja");
    json!({
        "title": format!("Mimamori: {kind}"),
        "body": format!("{place}: {}", alert.detail),
        // The same in Japanese, for the service worker of a viewer used in Japanese.
        "ja": {"title": format!("見守り: {name_ja}"), "body": format!("{place}: {detail_ja}")},
        "alert": alert,
        "severity": delivery.severity,
        "reason": delivery.reason,
        "person": delivery.person,
        "attempt": delivery.attempt,
        "stream": stream,
        "url": stream.map(|id| format!("/#/bed/{id}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctg_alerts::dispatch::{Reason, Severity};
    use ctg_alerts::{Alert, Hindsight, Said, Subject};

    /// The longest words an alert carries still fit one Web Push record (4,096 bytes with the
    /// encryption's overhead; a longer payload would not be sent at all), with room to spare
    /// for long facility and person names.
    #[test]
    fn the_longest_alert_payload_fits_a_web_push_record() {
        let said = Said::ProlongedReviewed {
            start_min: 1234.5,
            minutes: 9.9,
            depth_bpm: 120.0,
            hindsight: Hindsight::Shorter {
                kind: "variable".into(),
                minutes: 1.9,
                depth_bpm: 99.0,
            },
        };
        let name = "x".repeat(64);
        let delivery = Delivery {
            id: u64::MAX,
            alert: Alert {
                id: u64::MAX,
                kind: AlertKind::ProlongedDeceleration { start_ds: u64::MAX },
                subject: Subject::Stream {
                    id: i64::MAX,
                    facility: name.clone(),
                    fetus: Some("fhr3".into()),
                },
                raised_ms: i64::MAX,
                detail: said.english(),
                facts: said.facts(),
                acknowledged: None,
                resolved_ms: None,
            },
            severity: Severity::Urgent,
            person: name.clone(),
            channel: Channel::WebPush(format!("subscription {}", i64::MAX)),
            reason: Reason::Escalated,
            attempt: u32::MAX,
        };
        let bytes = serde_json::to_vec(&payload(&delivery)).unwrap().len();
        assert!(bytes < 3000, "{bytes} bytes");
    }
}

#[cfg(test)]
mod alert_id_tests {
    use super::*;

    /// A database from before the reservation (only its dispatch log says which IDs were
    /// used) starts above the highest logged; each reservation starts where the last block
    /// ended, whatever was used of it.
    #[test]
    fn alert_ids_are_reserved_above_every_id_logged_or_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let notifier = Notifier::open(&path, "centre", Policy::default()).unwrap();
        lock(&notifier.db)
            .execute(
                "INSERT INTO alert_log(at_ms, alert_id, entry) VALUES(1, 4321, '{}')",
                [],
            )
            .unwrap();
        assert_eq!(notifier.reserve_alert_ids(0).unwrap(), 4321);
        assert_eq!(
            notifier.reserve_alert_ids(4321 + 10).unwrap(),
            4321 + ALERT_ID_BLOCK
        );
        let reopened = Notifier::open(&path, "centre", Policy::default()).unwrap();
        assert_eq!(
            reopened.reserve_alert_ids(0).unwrap(),
            4321 + 2 * ALERT_ID_BLOCK
        );
    }
}
