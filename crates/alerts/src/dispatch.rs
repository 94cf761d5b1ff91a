//! Who is told about an alert, how and when: routing by severity to the on-call roster,
//! escalation to the next person when nobody acknowledges, repeats for the most urgent, snooze
//! with an upper bound, delivery attempts with retries, and an alarm for a channel that keeps
//! failing. Sans-IO: [`Dispatcher::on_alert`], [`Dispatcher::tick`] and
//! [`Dispatcher::delivered`] take the time; deliveries come out as values for the hub's
//! channel tasks to carry out, and every step is logged ([`Dispatcher::take_log`]) for storing
//! and auditing.
//!
//! Default policy (all of it configuration, [`Policy`]; the clinical reasoning in clinical.md):
//! - JSOG level 3 (異常波形・軽度: watch, consider conservative measures): the facility's
//!   on-call midwife.
//! - Level 4 (中等度: prepare for expedited delivery): also the centre's on-call obstetrician.
//! - Level 5 (高度: expedited delivery): everyone on call at the facility and the centre at
//!   once, repeated every minute until acknowledged.
//! - Prolonged deceleration and bradycardia (FIGO 2015 / NICHD 2008: act now): like level 4,
//!   repeated like level 5.
//! - Tachysystole (FIGO 2015: > 5 contractions in 10 min over 30 min): the facility's midwife.
//! - Twins' two fetal channels recording one heart (the other twin may be unwatched), or the
//!   monitor's own coincidence detection: the facility's midwife, who can place the
//!   transducers again.
//! - A stream stalled while a deceleration was under way (what followed is not known): like
//!   level 4.
//! - Technical (signal loss, stream stalled, bridge offline, a bridge's clock off, spool
//!   filling, hub overloaded):
//!   the facility's on-call midwife, escalating slower.
//! - Nobody acknowledges within the severity's escalation time: the next person in the roster
//!   (facility first, then the centre), one step per period.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::rules::{Alert, AlertKind};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// How urgent an alert is, for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Technical: data or delivery trouble.
    Technical,
    /// Watch (JSOG level 3, tachysystole).
    Watch,
    /// Prepare (JSOG level 4).
    Prepare,
    /// Act now (JSOG level 5, prolonged deceleration, bradycardia).
    Urgent,
}

impl Severity {
    /// The severity of an alert.
    pub fn of(kind: &AlertKind) -> Self {
        match kind {
            AlertKind::JsogLevel { level } if *level >= 5 => Severity::Urgent,
            AlertKind::JsogLevel { level } if *level >= 4 => Severity::Prepare,
            // The centre lost sight of a falling heart rate: the facility's midwife to the
            // bedside, and the centre's obstetrician told.
            AlertKind::StalledInDeceleration => Severity::Prepare,
            // Twins' transducers on one heart: the facility's midwife, to place them again.
            AlertKind::JsogLevel { .. }
            | AlertKind::Tachysystole
            | AlertKind::CrossChannel
            | AlertKind::MonitorCoincidence => Severity::Watch,
            AlertKind::ProlongedDeceleration { .. } | AlertKind::Bradycardia => Severity::Urgent,
            _ => Severity::Technical,
        }
    }
}

/// A way to reach a person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "address", rename_all = "snake_case")]
pub enum Channel {
    /// Web Push to a subscribed browser or phone (the address names the subscription).
    WebPush(String),
    /// E-mail.
    Email(String),
    /// A webhook (hospital paging, nurse call): the URL.
    Webhook(String),
}

impl Channel {
    /// The channel's kind, for counting failures per kind and address.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::WebPush(_) => "web_push",
            Channel::Email(_) => "email",
            Channel::Webhook(_) => "webhook",
        }
    }
}

/// A person who can be on call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Login name (acknowledgements are by it).
    pub name: String,
    /// How to reach her, all of them at once.
    #[serde(default)]
    pub channels: Vec<Channel>,
}

/// A shift: minutes of the local day, `start..end` (wrapping midnight when end ≤ start), and
/// who is on call in it, first to be called first (the rest are the substitutes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// First minute of the day of the shift (0–1439).
    pub start_minute: u32,
    /// Minute the shift ends (exclusive; ≤ start wraps past midnight).
    pub end_minute: u32,
    /// The people, in calling order.
    pub people: Vec<String>,
}

impl Shift {
    fn covers(&self, minute: u32) -> bool {
        if self.start_minute < self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

/// The on-call roster of one facility (or the centre).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The shifts (overlapping shifts both count, in this order).
    #[serde(default)]
    pub shifts: Vec<Shift>,
}

impl Roster {
    /// Who is on call at `local_minute` of the day, in calling order, without repeats.
    pub fn on_call(&self, local_minute: u32) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for shift in self.shifts.iter().filter(|s| s.covers(local_minute)) {
            for person in &shift.people {
                if !out.contains(person) {
                    out.push(person.clone());
                }
            }
        }
        out
    }
}

/// Timings and routing, per severity where it matters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The version of this policy (carried into the log).
    pub version: String,
    /// The rosters' time zone, minutes east of UTC (Japan: 540).
    pub utc_offset_minutes: i32,
    /// No acknowledgement this long: the next person (urgent).
    pub escalate_urgent_ms: Millis,
    /// … (prepare).
    pub escalate_prepare_ms: Millis,
    /// … (watch).
    pub escalate_watch_ms: Millis,
    /// … (technical).
    pub escalate_technical_ms: Millis,
    /// Urgent alerts are sent again this often until acknowledged.
    pub repeat_urgent_ms: Millis,
    /// Hold a watch-level alert this long before telling anyone (0: at once); one that resolves
    /// in the meantime tells nobody ("sustained for N minutes").
    pub hold_watch_ms: Millis,
    /// The longest snooze allowed.
    pub snooze_max_ms: Millis,
    /// Delivery attempts per message before giving up.
    pub attempts: u32,
    /// First retry after this; doubling.
    pub retry_first_ms: Millis,
    /// Retries at most this far apart.
    pub retry_max_ms: Millis,
    /// This many failed deliveries in a row on one channel: a technical alarm.
    pub failing_after: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: "mimamori-default-2026-11".into(),
            utc_offset_minutes: 540,
            escalate_urgent_ms: 2 * 60_000,
            escalate_prepare_ms: 5 * 60_000,
            escalate_watch_ms: 10 * 60_000,
            escalate_technical_ms: 15 * 60_000,
            repeat_urgent_ms: 60_000,
            hold_watch_ms: 0,
            snooze_max_ms: 30 * 60_000,
            attempts: 6,
            retry_first_ms: 1_000,
            retry_max_ms: 60_000,
            failing_after: 3,
        }
    }
}

impl Policy {
    fn escalate_ms(&self, severity: Severity) -> Millis {
        match severity {
            Severity::Urgent => self.escalate_urgent_ms,
            Severity::Prepare => self.escalate_prepare_ms,
            Severity::Watch => self.escalate_watch_ms,
            Severity::Technical => self.escalate_technical_ms,
        }
    }

    fn local_minute(&self, now: Millis) -> u32 {
        let minutes = now.div_euclid(60_000) + i64::from(self.utc_offset_minutes);
        minutes.rem_euclid(24 * 60) as u32
    }
}

/// Why a message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// First notice.
    Raised,
    /// The alert got worse (a higher level).
    Worse,
    /// Nobody acknowledged: the next person.
    Escalated,
    /// Urgent and still unacknowledged.
    Repeat,
    /// A snooze ended with the alert still open.
    SnoozeEnded,
    /// Told before the hub stopped, but no message had reached them (still to be sent, or
    /// failing and to be retried): sent again when the hub took the alert up.
    Resent,
}

/// One message to send on one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its ID (for [`Dispatcher::delivered`]).
    pub id: u64,
    /// The alert.
    pub alert: Alert,
    /// Its severity.
    pub severity: Severity,
    /// To whom.
    pub person: String,
    /// How.
    pub channel: Channel,
    /// Why now.
    pub reason: Reason,
    /// Attempt number, from 1.
    pub attempt: u32,
}

/// What happened, for the store and the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LogEntry {
    /// People were told (or are about to be, on these channels).
    Notified {
        /// The alert.
        alert: u64,
        /// Who.
        person: String,
        /// Why.
        reason: Reason,
        /// When.
        at_ms: Millis,
    },
    /// Someone on the alert had no channel at all (told only on the wall).
    NoChannel {
        /// The alert.
        alert: u64,
        /// Who.
        person: String,
        /// When.
        at_ms: Millis,
    },
    /// Nobody was on call to tell.
    NobodyOnCall {
        /// The alert.
        alert: u64,
        /// The facility.
        facility: String,
        /// When.
        at_ms: Millis,
    },
    /// A delivery attempt ended.
    Attempt {
        /// The delivery.
        delivery: u64,
        /// The alert.
        alert: u64,
        /// The channel.
        channel: Channel,
        /// Attempt number.
        attempt: u32,
        /// `None` when delivered, else the error.
        error: Option<String>,
        /// When.
        at_ms: Millis,
    },
    /// Snoozed.
    Snoozed {
        /// The alert.
        alert: u64,
        /// By whom.
        by: String,
        /// Why.
        reason: String,
        /// Until.
        until_ms: Millis,
    },
    /// Taken up again after a hub restart ([`Dispatcher::resume`]), with the people its log
    /// says were told.
    Resumed {
        /// The alert.
        alert: u64,
        /// Who had been told.
        told: Vec<String>,
        /// When.
        at_ms: Millis,
    },
    /// Acknowledged: escalation and repeats stop.
    Acknowledged {
        /// The alert.
        alert: u64,
        /// By whom.
        by: String,
        /// When.
        at_ms: Millis,
    },
}

/// Why a snooze was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnoozeError {
    /// No open alert with that ID.
    #[error("no open alert {0}")]
    NoSuchAlert(u64),
    /// Longer than the policy allows.
    #[error("a snooze may last at most {max_min} minutes")]
    TooLong {
        /// The limit, minutes.
        max_min: i64,
    },
    /// No reason given.
    #[error("say why (the reason is recorded)")]
    NoReason,
}

#[derive(Clone, Debug)]
struct Open {
    alert: Alert,
    severity: Severity,
    /// People told so far, in order.
    told: Vec<String>,
    /// When the next escalation step is due.
    escalate_at: Millis,
    /// When the next repeat is due (urgent only).
    repeat_at: Option<Millis>,
    /// Not told anyone yet: held until then (watch-level hold).
    held_until: Option<Millis>,
    snoozed_until: Option<Millis>,
}

#[derive(Clone, Debug)]
struct Pending {
    delivery: Delivery,
    due: Millis,
}

/// The dispatcher.
#[derive(Debug, Default)]
pub struct Dispatcher {
    policy: Policy,
    people: HashMap<String, Person>,
    rosters: BTreeMap<String, Roster>,
    centre: String,
    open: BTreeMap<u64, Open>,
    pending: Vec<Pending>,
    in_flight: HashMap<u64, Delivery>,
    next_delivery: u64,
    failures: HashMap<Channel, u32>,
    failing: Vec<Channel>,
    log: Vec<LogEntry>,
}

impl Dispatcher {
    /// A dispatcher for `centre` (the centre's roster is the one named so).
    pub fn new(policy: Policy, centre: &str) -> Self {
        Self {
            policy,
            centre: centre.to_owned(),
            next_delivery: 1,
            ..Self::default()
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sets (replaces) a person's channels.
    pub fn set_person(&mut self, person: Person) {
        self.people.insert(person.name.clone(), person);
    }

    /// Sets (replaces) a facility's roster (the centre's too, under its name).
    pub fn set_roster(&mut self, facility: &str, roster: Roster) {
        self.rosters.insert(facility.to_owned(), roster);
    }

    /// The rosters.
    pub fn rosters(&self) -> &BTreeMap<String, Roster> {
        &self.rosters
    }

    /// Channels that keep failing (a technical alarm for the wall); taken once each.
    pub fn take_failing(&mut self) -> Vec<Channel> {
        std::mem::take(&mut self.failing)
    }

    /// What happened since the last call.
    pub fn take_log(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.log)
    }

    /// Whom to call for an alert, in escalation order: the facility's on-call people, then the
    /// centre's. The first step tells the people [`Severity`] says.
    fn calling_order(&self, alert: &Alert, now: Millis) -> (Vec<String>, usize) {
        let minute = self.policy.local_minute(now);
        let on_call = |facility: &str| {
            self.rosters
                .get(facility)
                .map(|r| r.on_call(minute))
                .unwrap_or_default()
        };
        let local = on_call(alert.subject.facility());
        let centre = if alert.subject.facility() == self.centre {
            Vec::new()
        } else {
            on_call(&self.centre)
        };
        let severity = Severity::of(&alert.kind);
        let first_step = match severity {
            Severity::Technical | Severity::Watch => local.len().min(1),
            Severity::Prepare => local.len().min(1) + centre.len().min(1),
            Severity::Urgent => local.len() + centre.len().min(1),
        };
        let mut order: Vec<String> = Vec::new();
        // Prepare: the first local person and the first of the centre, then the rest in order.
        if severity == Severity::Prepare {
            order.extend(local.first().cloned());
            order.extend(centre.first().cloned());
            order.extend(local.iter().skip(1).cloned());
            order.extend(centre.iter().skip(1).cloned());
        } else {
            order.extend(local.iter().cloned());
            order.extend(centre.iter().cloned());
        }
        order.dedup();
        (
            order,
            first_step.max(usize::from(!local.is_empty() || !centre.is_empty())),
        )
    }

    /// Takes an alert change from the rules (raised, updated, acknowledged or resolved).
    pub fn on_alert(&mut self, alert: &Alert, now: Millis) {
        if let Some(ack) = &alert.acknowledged {
            if self.open.remove(&alert.id).is_some() {
                self.pending.retain(|p| p.delivery.alert.id != alert.id);
                self.log.push(LogEntry::Acknowledged {
                    alert: alert.id,
                    by: ack.by.clone(),
                    at_ms: ack.at_ms,
                });
            }
            return;
        }
        if alert.resolved_ms.is_some() {
            // The condition ended: no more calls (the wall keeps it until acknowledged).
            if self.open.remove(&alert.id).is_some() {
                self.pending
                    .retain(|p| p.delivery.alert.id != alert.id || p.delivery.attempt > 1);
            }
            return;
        }
        let severity = Severity::of(&alert.kind);
        match self.open.get_mut(&alert.id) {
            None => {
                let hold = (severity == Severity::Watch && self.policy.hold_watch_ms > 0)
                    .then_some(now + self.policy.hold_watch_ms);
                self.open.insert(
                    alert.id,
                    Open {
                        alert: alert.clone(),
                        severity,
                        told: Vec::new(),
                        escalate_at: now + self.policy.escalate_ms(severity),
                        repeat_at: None,
                        held_until: hold,
                        snoozed_until: None,
                    },
                );
                if hold.is_none() {
                    self.first_notice(alert.id, Reason::Raised, now);
                }
            }
            Some(open) => {
                let worse = severity > open.severity;
                open.alert = alert.clone();
                open.severity = severity;
                if worse && open.held_until.is_none() {
                    open.told.clear();
                    open.escalate_at = now + self.policy.escalate_ms(severity);
                    self.first_notice(alert.id, Reason::Worse, now);
                }
            }
        }
    }

    /// Takes up an alert a hub held before it restarted, nobody having acknowledged it and its
    /// condition not over, where its calling stood by its stored log (`history`, oldest
    /// first): the people told stay told and are not called again now; the next escalation
    /// step falls due one escalation period after the last step logged, an urgent alert's next
    /// repeat one repeat period after the last call (at once, if that time passed while the
    /// hub was down); a snooze still running holds both, and one that ran out meanwhile ends
    /// at once, calling everyone told again. An alert nobody had been told of yet (nobody on
    /// call, or held) starts as a new one does. Logged as [`LogEntry::Resumed`].
    ///
    /// Someone told on none of whose channels an attempt succeeded after they were last told
    /// (the message was still to go, or failing and to be retried, when the hub stopped) is
    /// sent it again at once ([`Reason::Resent`]). A message delivered in the last moments
    /// before a crash, whose outcome was not yet stored, goes twice: a second message rather
    /// than none.
    pub fn resume(&mut self, alert: &Alert, history: &[LogEntry], now: Millis) {
        if alert.acknowledged.is_some() || alert.resolved_ms.is_some() {
            return;
        }
        let mut told: Vec<String> = Vec::new();
        // When each person was last told.
        let mut last_told: HashMap<&str, Millis> = HashMap::new();
        let (mut last_step, mut last_call, mut snooze) = (None, None, None);
        for entry in history {
            match entry {
                LogEntry::Notified {
                    alert: id,
                    person,
                    reason,
                    at_ms,
                } if *id == alert.id => {
                    if !told.contains(person) {
                        told.push(person.clone());
                    }
                    last_told.insert(person, *at_ms);
                    if !matches!(reason, Reason::Repeat | Reason::Resent) {
                        last_step = last_step.max(Some(*at_ms));
                    }
                    last_call = last_call.max(Some(*at_ms));
                }
                LogEntry::Snoozed {
                    alert: id,
                    until_ms,
                    ..
                } if *id == alert.id => snooze = Some(*until_ms),
                _ => {}
            }
        }
        self.log.push(LogEntry::Resumed {
            alert: alert.id,
            told: told.clone(),
            at_ms: now,
        });
        let (Some(last_step), Some(last_call)) = (last_step, last_call) else {
            self.on_alert(alert, now);
            return;
        };
        let reached = |person: &str, channels: &[Channel]| {
            let since = last_told.get(person).copied().unwrap_or(Millis::MIN);
            history.iter().any(|entry| {
                matches!(entry, LogEntry::Attempt { alert: id, channel, error: None, at_ms, .. }
                    if *id == alert.id && *at_ms >= since && channels.contains(channel))
            })
        };
        let unreached: Vec<String> = told
            .iter()
            .filter(|person| {
                let channels = self
                    .people
                    .get(person.as_str())
                    .map(|p| p.channels.as_slice())
                    .unwrap_or_default();
                // Someone with no channel was told on the wall alone: nothing to send again.
                !channels.is_empty() && !reached(person, channels)
            })
            .cloned()
            .collect();
        let severity = Severity::of(&alert.kind);
        let snoozed_until = snooze.filter(|&until| until > last_call);
        let repeat_at =
            (severity == Severity::Urgent).then_some(last_call + self.policy.repeat_urgent_ms);
        // A snooze still running holds these too (its end calls everyone told), and a repeat
        // due at once calls everyone told anyway.
        let unreached = if snoozed_until.is_some_and(|until| until > now)
            || repeat_at.is_some_and(|at| at <= now)
        {
            Vec::new()
        } else {
            unreached
        };
        self.open.insert(
            alert.id,
            Open {
                alert: alert.clone(),
                severity,
                told,
                escalate_at: last_step + self.policy.escalate_ms(severity),
                repeat_at,
                held_until: None,
                // A snooze logged after the last call (one that ended calls everyone again).
                snoozed_until,
            },
        );
        for person in unreached {
            self.tell(alert.id, &person, Reason::Resent, now);
        }
    }

    fn first_notice(&mut self, id: u64, reason: Reason, now: Millis) {
        let Some(open) = self.open.get(&id) else {
            return;
        };
        let (order, first_step) = self.calling_order(&open.alert, now);
        if order.is_empty() {
            self.log.push(LogEntry::NobodyOnCall {
                alert: id,
                facility: open.alert.subject.facility().to_owned(),
                at_ms: now,
            });
        }
        let people: Vec<String> = order.into_iter().take(first_step).collect();
        let urgent = open.severity == Severity::Urgent;
        for person in &people {
            self.tell(id, person, reason, now);
        }
        if let Some(open) = self.open.get_mut(&id) {
            open.told = people;
            open.repeat_at = urgent.then_some(now + self.policy.repeat_urgent_ms);
        }
    }

    fn tell(&mut self, id: u64, person: &str, reason: Reason, now: Millis) {
        let Some(open) = self.open.get(&id) else {
            return;
        };
        self.log.push(LogEntry::Notified {
            alert: id,
            person: person.to_owned(),
            reason,
            at_ms: now,
        });
        let channels = self
            .people
            .get(person)
            .map(|p| p.channels.clone())
            .unwrap_or_default();
        if channels.is_empty() {
            self.log.push(LogEntry::NoChannel {
                alert: id,
                person: person.to_owned(),
                at_ms: now,
            });
        }
        let (alert, severity) = (open.alert.clone(), open.severity);
        for channel in channels {
            let delivery = Delivery {
                id: self.next_delivery,
                alert: alert.clone(),
                severity,
                person: person.to_owned(),
                channel,
                reason,
                attempt: 1,
            };
            self.next_delivery += 1;
            self.pending.push(Pending { delivery, due: now });
        }
    }

    /// Snoozes an open alert: no repeats or escalation until `now + duration`, then, if it is
    /// still open, everyone told so far is told again.
    pub fn snooze(
        &mut self,
        id: u64,
        by: &str,
        reason: &str,
        duration_ms: Millis,
        now: Millis,
    ) -> Result<Millis, SnoozeError> {
        if reason.trim().is_empty() {
            return Err(SnoozeError::NoReason);
        }
        if duration_ms > self.policy.snooze_max_ms || duration_ms <= 0 {
            return Err(SnoozeError::TooLong {
                max_min: self.policy.snooze_max_ms / 60_000,
            });
        }
        let open = self.open.get_mut(&id).ok_or(SnoozeError::NoSuchAlert(id))?;
        let until = now + duration_ms;
        open.snoozed_until = Some(until);
        self.log.push(LogEntry::Snoozed {
            alert: id,
            by: by.to_owned(),
            reason: reason.to_owned(),
            until_ms: until,
        });
        Ok(until)
    }

    /// Advances time: holds that ran out, snoozes that ended, escalations and repeats that are
    /// due; returns the deliveries due now (each must be answered with
    /// [`Dispatcher::delivered`]).
    pub fn tick(&mut self, now: Millis) -> Vec<Delivery> {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            let Some(open) = self.open.get(&id) else {
                continue;
            };
            if let Some(held) = open.held_until {
                if now >= held {
                    let open = self.open.get_mut(&id).expect("open");
                    open.held_until = None;
                    open.escalate_at = now + self.policy.escalate_ms(open.severity);
                    self.first_notice(id, Reason::Raised, now);
                }
                continue;
            }
            if let Some(until) = open.snoozed_until {
                if now < until {
                    continue;
                }
                let told = open.told.clone();
                let open = self.open.get_mut(&id).expect("open");
                open.snoozed_until = None;
                open.escalate_at = now + self.policy.escalate_ms(open.severity);
                if open.repeat_at.is_some() {
                    open.repeat_at = Some(now + self.policy.repeat_urgent_ms);
                }
                for person in &told {
                    self.tell(id, person, Reason::SnoozeEnded, now);
                }
                continue;
            }
            if now >= open.escalate_at {
                let (order, _) = self.calling_order(&open.alert, now);
                let next = order.into_iter().find(|p| !open.told.contains(p));
                let step = self.policy.escalate_ms(open.severity);
                let open = self.open.get_mut(&id).expect("open");
                open.escalate_at += step;
                if let Some(person) = next {
                    open.told.push(person.clone());
                    self.tell(id, &person, Reason::Escalated, now);
                }
            }
            let open = self.open.get(&id).expect("open");
            if let Some(repeat_at) = open.repeat_at
                && now >= repeat_at
            {
                let told = open.told.clone();
                let open = self.open.get_mut(&id).expect("open");
                open.repeat_at = Some(repeat_at + self.policy.repeat_urgent_ms);
                for person in &told {
                    self.tell(id, person, Reason::Repeat, now);
                }
            }
        }
        let (due, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.pending = later;
        due.into_iter()
            .map(|p| {
                self.in_flight.insert(p.delivery.id, p.delivery.clone());
                p.delivery
            })
            .collect()
    }

    /// The outcome of a delivery: `Ok` delivered; an error is retried with backoff up to the
    /// policy's attempts. A channel failing `failing_after` times in a row is reported by
    /// [`Dispatcher::take_failing`].
    pub fn delivered(&mut self, delivery: u64, outcome: Result<(), String>, now: Millis) {
        let Some(d) = self.in_flight.remove(&delivery) else {
            return;
        };
        self.log.push(LogEntry::Attempt {
            delivery,
            alert: d.alert.id,
            channel: d.channel.clone(),
            attempt: d.attempt,
            error: outcome.as_ref().err().cloned(),
            at_ms: now,
        });
        match outcome {
            Ok(()) => {
                self.failures.remove(&d.channel);
            }
            Err(_) => {
                let failures = self.failures.entry(d.channel.clone()).or_default();
                *failures += 1;
                if *failures == self.policy.failing_after {
                    self.failing.push(d.channel.clone());
                }
                if d.attempt < self.policy.attempts {
                    let backoff = (self.policy.retry_first_ms << (d.attempt - 1).min(20))
                        .min(self.policy.retry_max_ms);
                    self.pending.push(Pending {
                        delivery: Delivery {
                            attempt: d.attempt + 1,
                            ..d
                        },
                        due: now + backoff,
                    });
                }
            }
        }
    }

    /// The earliest time something is due (for a driver that sleeps until then).
    pub fn next_due(&self) -> Option<Millis> {
        let timers = self.open.values().flat_map(|o| {
            [
                o.held_until,
                o.snoozed_until,
                (o.held_until.is_none() && o.snoozed_until.is_none()).then_some(o.escalate_at),
                o.repeat_at,
            ]
        });
        timers
            .flatten()
            .chain(self.pending.iter().map(|p| p.due))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Acknowledgement, Subject};

    const MIN: Millis = 60_000;
    /// 2026-11-24 03:00 UTC = 12:00 in Japan.
    const NOON_JST: Millis = 1_795_489_200_000;

    fn alert(id: u64, kind: AlertKind, facility: &str) -> Alert {
        Alert {
            id,
            kind,
            subject: Subject::Stream {
                id: 7,
                facility: facility.into(),
                fetus: None,
            },
            raised_ms: NOON_JST,
            detail: String::new(),
            facts: serde_json::Value::Null,
            acknowledged: None,
            resolved_ms: None,
        }
    }

    fn dispatcher() -> Dispatcher {
        let mut d = Dispatcher::new(Policy::default(), "centre");
        for name in ["mw-1", "mw-2", "mw-3", "ob-1", "ob-2"] {
            d.set_person(Person {
                name: name.into(),
                channels: vec![Channel::Email(format!("{name}@example.test"))],
            });
        }
        d.set_roster(
            "clinic-a",
            Roster {
                shifts: vec![
                    // Day 08:30–17:00 and night 17:00–08:30 (past midnight).
                    Shift {
                        start_minute: 510,
                        end_minute: 1020,
                        people: vec!["mw-1".into(), "mw-2".into()],
                    },
                    Shift {
                        start_minute: 1020,
                        end_minute: 510,
                        people: vec!["mw-3".into()],
                    },
                ],
            },
        );
        d.set_roster(
            "centre",
            Roster {
                shifts: vec![Shift {
                    start_minute: 0,
                    end_minute: 0,
                    people: vec!["ob-1".into(), "ob-2".into()],
                }],
            },
        );
        d
    }

    fn people(deliveries: &[Delivery]) -> Vec<String> {
        deliveries.iter().map(|d| d.person.clone()).collect()
    }

    /// Ticks and reports every delivery due as delivered.
    fn tick_delivered(d: &mut Dispatcher, now: Millis) -> Vec<Delivery> {
        let due = d.tick(now);
        for delivery in &due {
            d.delivered(delivery.id, Ok(()), now);
        }
        due
    }

    fn ack(mut a: Alert, by: &str, at: Millis) -> Alert {
        a.acknowledged = Some(Acknowledgement {
            by: by.into(),
            at_ms: at,
            reason: "seen".into(),
        });
        a
    }

    /// A hub that restarts takes up an alert's calling where its stored log left it: nobody
    /// told is told again at the restart, escalation and repeats fall due on the clock they
    /// were on (at once where that passed while the hub was down), and a snooze still holds.
    #[test]
    fn calling_taken_up_after_a_restart_goes_on_where_it_stood() {
        let t = Policy::default().escalate_watch_ms;
        // Before: a level 3 told to mw-1, then escalated to mw-2.
        let mut before = dispatcher();
        let a = alert(1, AlertKind::JsogLevel { level: 3 }, "clinic-a");
        before.on_alert(&a, NOON_JST);
        tick_delivered(&mut before, NOON_JST);
        tick_delivered(&mut before, NOON_JST + t);
        let history = before.take_log();
        // The hub restarts 3 minutes after that step.
        let mut after = dispatcher();
        let restart = NOON_JST + t + 3 * MIN;
        after.resume(&a, &history, restart);
        assert!(
            after.tick(restart).is_empty(),
            "the people told are not called again"
        );
        assert!(
            matches!(&after.take_log()[..], [LogEntry::Resumed { alert: 1, told, .. }] if told == &["mw-1", "mw-2"])
        );
        assert!(after.tick(NOON_JST + 2 * t - 1).is_empty());
        assert_eq!(
            people(&after.tick(NOON_JST + 2 * t)),
            ["ob-1"],
            "the next step on its clock"
        );

        // An urgent alert whose next repeat and escalation fell due while the hub was down:
        // at once.
        let mut before = dispatcher();
        let urgent = alert(2, AlertKind::JsogLevel { level: 5 }, "clinic-a");
        before.on_alert(&urgent, NOON_JST);
        tick_delivered(&mut before, NOON_JST);
        let history = before.take_log();
        let mut after = dispatcher();
        let restart = NOON_JST + 10 * MIN;
        after.resume(&urgent, &history, restart);
        let due = after.tick(restart);
        assert!(
            due.iter()
                .any(|d| d.reason == Reason::Escalated && d.person == "ob-2"),
            "{due:?}"
        );
        assert_eq!(
            due.iter().filter(|d| d.reason == Reason::Repeat).count(),
            4,
            "{due:?}"
        );

        // Snoozed for 20 minutes before the restart: quiet until it ends, then everyone again.
        let mut before = dispatcher();
        before.on_alert(&urgent, NOON_JST);
        tick_delivered(&mut before, NOON_JST);
        let until = before
            .snooze(2, "mw-1", "delivering", 20 * MIN, NOON_JST + MIN)
            .unwrap();
        let history = before.take_log();
        let mut after = dispatcher();
        after.resume(&urgent, &history, NOON_JST + 5 * MIN);
        assert!(after.tick(NOON_JST + 5 * MIN).is_empty());
        assert!(after.tick(until - 1).is_empty());
        let ended = after.tick(until);
        assert_eq!(people(&ended), ["mw-1", "mw-2", "ob-1"]);
        assert!(ended.iter().all(|d| d.reason == Reason::SnoozeEnded));

        // Nobody told yet (the log was lost, or nobody was on call): told as a new alert; and
        // an acknowledged alert is not taken up.
        let mut after = dispatcher();
        after.resume(&a, &[], NOON_JST);
        assert_eq!(people(&after.tick(NOON_JST)), ["mw-1"]);
        let mut after = dispatcher();
        after.resume(&ack(a.clone(), "mw-1", NOON_JST), &history, NOON_JST);
        assert!(after.tick(NOON_JST + 60 * MIN).is_empty());
    }

    /// A message still to go, or failing, when the hub stopped is not lost with it: whoever it
    /// had not reached is sent it again when the hub takes the alert up, and only they.
    #[test]
    fn a_message_that_had_not_reached_someone_before_a_restart_is_sent_again() {
        let mut before = dispatcher();
        let urgent = alert(1, AlertKind::JsogLevel { level: 5 }, "clinic-a");
        before.on_alert(&urgent, NOON_JST);
        let due = before.tick(NOON_JST);
        assert_eq!(people(&due), ["mw-1", "mw-2", "ob-1"]);
        // mw-1's went out; ob-1's failed once (to be retried in a second); mw-2's had not
        // come back when the hub died.
        for d in &due {
            match d.person.as_str() {
                "mw-1" => before.delivered(d.id, Ok(()), NOON_JST + 200),
                "ob-1" => before.delivered(d.id, Err("503".into()), NOON_JST + 300),
                _ => {}
            }
        }
        let history = before.take_log();
        let mut after = dispatcher();
        let restart = NOON_JST + 30_000;
        after.resume(&urgent, &history, restart);
        let again = after.tick(restart);
        assert_eq!(people(&again), ["mw-2", "ob-1"], "{again:?}");
        assert!(again.iter().all(|d| d.reason == Reason::Resent));
        // Where a repeat falls due at the restart, it is the message everyone gets, once.
        let mut late = dispatcher();
        late.resume(&urgent, &history, NOON_JST + MIN);
        let due = late.tick(NOON_JST + MIN);
        assert_eq!(people(&due), ["mw-1", "mw-2", "ob-1"], "{due:?}");
        assert!(due.iter().all(|d| d.reason == Reason::Repeat));
        // Sending again is no escalation step: ob-2 is called on the old clock, not later.
        let escalation = NOON_JST + after.policy().escalate_urgent_ms;
        assert!(
            after
                .tick(escalation - 1)
                .iter()
                .all(|d| d.person != "ob-2")
        );
        assert!(after.tick(escalation).iter().any(|d| d.person == "ob-2"));

        // Reached after being told again (a repeat that went out): not sent again.
        let mut before = dispatcher();
        before.on_alert(&urgent, NOON_JST);
        tick_delivered(&mut before, NOON_JST);
        let repeat = NOON_JST + before.policy().repeat_urgent_ms;
        let due = before.tick(repeat);
        assert!(due.iter().any(|d| d.reason == Reason::Repeat));
        let history = before.take_log();
        let mut after = dispatcher();
        after.resume(&urgent, &history, repeat + 1_000);
        let again = after.tick(repeat + 1_000);
        assert_eq!(
            people(&again),
            people(&due),
            "the repeat that had not gone out"
        );

        // While a snooze holds, nothing is sent again; its end calls everyone told.
        let mut before = dispatcher();
        before.on_alert(&urgent, NOON_JST);
        before.tick(NOON_JST);
        let until = before
            .snooze(1, "mw-1", "delivering", 20 * MIN, NOON_JST + MIN)
            .unwrap();
        let history = before.take_log();
        let mut after = dispatcher();
        after.resume(&urgent, &history, NOON_JST + 2 * MIN);
        assert!(after.tick(NOON_JST + 2 * MIN).is_empty());
        assert_eq!(people(&after.tick(until)), ["mw-1", "mw-2", "ob-1"]);
    }

    #[test]
    fn the_roster_follows_the_local_clock_across_midnight() {
        let d = dispatcher();
        let roster = &d.rosters()["clinic-a"];
        assert_eq!(roster.on_call(12 * 60), ["mw-1", "mw-2"]);
        assert_eq!(roster.on_call(23 * 60), ["mw-3"]);
        assert_eq!(roster.on_call(3 * 60), ["mw-3"]);
        assert_eq!(roster.on_call(510), ["mw-1", "mw-2"]);
        assert_eq!(d.policy().local_minute(NOON_JST), 12 * 60);
    }

    #[test]
    fn nobody_acknowledges_so_escalation_reaches_the_next_person_at_exactly_t() {
        let mut d = dispatcher();
        let a = alert(1, AlertKind::JsogLevel { level: 3 }, "clinic-a");
        d.on_alert(&a, NOON_JST);
        assert_eq!(
            people(&d.tick(NOON_JST)),
            ["mw-1"],
            "level 3: the local midwife"
        );
        let t = d.policy().escalate_watch_ms;
        assert!(
            d.tick(NOON_JST + t - 1).is_empty(),
            "not a millisecond early"
        );
        assert_eq!(
            people(&d.tick(NOON_JST + t)),
            ["mw-2"],
            "at exactly T: the next"
        );
        assert_eq!(
            people(&d.tick(NOON_JST + 2 * t)),
            ["ob-1"],
            "then the centre"
        );
        assert_eq!(people(&d.tick(NOON_JST + 3 * t)), ["ob-2"]);
        assert!(d.tick(NOON_JST + 4 * t).is_empty(), "nobody left");
    }

    #[test]
    fn severity_decides_who_is_told_first() {
        let mut d = dispatcher();
        d.on_alert(
            &alert(1, AlertKind::JsogLevel { level: 4 }, "clinic-a"),
            NOON_JST,
        );
        assert_eq!(people(&d.tick(NOON_JST)), ["mw-1", "ob-1"]);
        d.on_alert(
            &alert(2, AlertKind::JsogLevel { level: 5 }, "clinic-a"),
            NOON_JST,
        );
        assert_eq!(people(&d.tick(NOON_JST)), ["mw-1", "mw-2", "ob-1"]);
        d.on_alert(&alert(3, AlertKind::StreamStalled, "clinic-a"), NOON_JST);
        assert_eq!(people(&d.tick(NOON_JST)), ["mw-1"]);
        // At night the night midwife is first.
        let night = NOON_JST + 11 * 60 * MIN;
        let mut d = dispatcher();
        d.on_alert(
            &alert(4, AlertKind::JsogLevel { level: 3 }, "clinic-a"),
            night,
        );
        assert_eq!(people(&d.tick(night)), ["mw-3"]);
    }

    #[test]
    fn urgent_alerts_repeat_until_acknowledged_and_acknowledgement_stops_them() {
        let mut d = dispatcher();
        let a = alert(
            1,
            AlertKind::ProlongedDeceleration { start_ds: 10 },
            "clinic-a",
        );
        d.on_alert(&a, NOON_JST);
        assert_eq!(people(&d.tick(NOON_JST)).len(), 3);
        let r = d.policy().repeat_urgent_ms;
        let again = d.tick(NOON_JST + r);
        assert_eq!(people(&again), ["mw-1", "mw-2", "ob-1"]);
        assert!(again.iter().all(|x| x.reason == Reason::Repeat));
        d.on_alert(&ack(a, "mw-1", NOON_JST + r + 5), NOON_JST + r + 5);
        for k in 2..20 {
            assert!(
                d.tick(NOON_JST + k * r).is_empty(),
                "no repeat after the acknowledgement"
            );
        }
        assert!(
            d.take_log()
                .iter()
                .any(|e| matches!(e, LogEntry::Acknowledged { by, .. } if by == "mw-1"))
        );
    }

    #[test]
    fn a_snooze_holds_repeats_and_escalation_and_expires() {
        let mut d = dispatcher();
        let a = alert(1, AlertKind::JsogLevel { level: 5 }, "clinic-a");
        d.on_alert(&a, NOON_JST);
        d.tick(NOON_JST);
        assert_eq!(
            d.snooze(1, "mw-1", "", 5 * MIN, NOON_JST),
            Err(SnoozeError::NoReason)
        );
        assert!(matches!(
            d.snooze(1, "mw-1", "x", 31 * MIN, NOON_JST),
            Err(SnoozeError::TooLong { max_min: 30 })
        ));
        let until = d
            .snooze(1, "mw-1", "delivering, back in 5", 5 * MIN, NOON_JST + 1000)
            .unwrap();
        assert_eq!(until, NOON_JST + 1000 + 5 * MIN);
        for t in (NOON_JST + 2000..until).step_by(10_000) {
            assert!(d.tick(t).is_empty(), "quiet while snoozed");
        }
        let after = d.tick(until);
        assert_eq!(
            people(&after),
            ["mw-1", "mw-2", "ob-1"],
            "the snooze ended: told again"
        );
        assert!(after.iter().all(|x| x.reason == Reason::SnoozeEnded));
        assert_eq!(
            people(&d.tick(until + d.policy().repeat_urgent_ms)).len(),
            3,
            "repeats resume"
        );
    }

    #[test]
    fn a_held_watch_alert_that_resolves_tells_nobody() {
        let mut d = Dispatcher::new(
            Policy {
                hold_watch_ms: 10 * MIN,
                ..Policy::default()
            },
            "centre",
        );
        d.set_roster("clinic-a", dispatcher().rosters()["clinic-a"].clone());
        d.set_person(Person {
            name: "mw-1".into(),
            channels: vec![Channel::Webhook("http://pager".into())],
        });
        let mut a = alert(1, AlertKind::JsogLevel { level: 3 }, "clinic-a");
        d.on_alert(&a, NOON_JST);
        assert!(d.tick(NOON_JST + 9 * MIN).is_empty());
        a.resolved_ms = Some(NOON_JST + 9 * MIN);
        d.on_alert(&a, NOON_JST + 9 * MIN);
        assert!(d.tick(NOON_JST + 20 * MIN).is_empty());
        // Sustained: told when the hold ends.
        let b = alert(2, AlertKind::JsogLevel { level: 3 }, "clinic-a");
        d.on_alert(&b, NOON_JST);
        assert_eq!(people(&d.tick(NOON_JST + 10 * MIN)), ["mw-1"]);
    }

    #[test]
    fn failed_deliveries_are_retried_with_backoff_and_a_failing_channel_is_reported() {
        let mut d = dispatcher();
        d.on_alert(
            &alert(1, AlertKind::JsogLevel { level: 3 }, "clinic-a"),
            NOON_JST,
        );
        let first = d.tick(NOON_JST);
        assert_eq!(first.len(), 1);
        d.delivered(first[0].id, Err("connection refused".into()), NOON_JST);
        assert!(d.tick(NOON_JST + 999).is_empty());
        let second = d.tick(NOON_JST + 1000);
        assert_eq!(second[0].attempt, 2);
        d.delivered(second[0].id, Err("timeout".into()), NOON_JST + 1000);
        assert!(d.tick(NOON_JST + 2999).is_empty(), "backoff doubles");
        let third = d.tick(NOON_JST + 3000);
        d.delivered(third[0].id, Err("timeout".into()), NOON_JST + 3000);
        assert_eq!(
            d.take_failing(),
            [Channel::Email("mw-1@example.test".into())]
        );
        let fourth = d.tick(NOON_JST + 7000);
        d.delivered(fourth[0].id, Ok(()), NOON_JST + 7000);
        assert!(
            d.tick(NOON_JST + 60 * MIN).iter().all(|x| x.attempt == 1),
            "no more retries"
        );
        let attempts = d
            .take_log()
            .into_iter()
            .filter(|e| matches!(e, LogEntry::Attempt { .. }))
            .count();
        assert_eq!(attempts, 4, "every attempt is logged");
    }

    #[test]
    fn a_reworded_alert_of_the_same_severity_calls_nobody_again() {
        let mut d = dispatcher();
        let mut a = alert(
            2,
            AlertKind::ProlongedDeceleration { start_ds: 6000 },
            "clinic-a",
        );
        d.on_alert(&a, NOON_JST);
        assert!(!d.tick(NOON_JST).is_empty(), "told when raised");
        // The final analysis rewords it (rules.rs: `Hindsight`): nobody is called for that.
        a.detail = "final analysis: no deceleration there".into();
        d.on_alert(&a, NOON_JST + 1000);
        assert!(d.tick(NOON_JST + 1000).is_empty());
    }

    #[test]
    fn a_rising_level_tells_the_wider_circle_at_once() {
        let mut d = dispatcher();
        let mut a = alert(1, AlertKind::JsogLevel { level: 3 }, "clinic-a");
        d.on_alert(&a, NOON_JST);
        assert_eq!(people(&d.tick(NOON_JST)), ["mw-1"]);
        a.kind = AlertKind::JsogLevel { level: 4 };
        d.on_alert(&a, NOON_JST + MIN);
        let worse = d.tick(NOON_JST + MIN);
        assert_eq!(people(&worse), ["mw-1", "ob-1"]);
        assert!(worse.iter().all(|x| x.reason == Reason::Worse));
        assert_eq!(
            d.next_due(),
            Some(NOON_JST + MIN + d.policy().escalate_prepare_ms)
        );
    }
}
