//! Patients, monitoring episodes, the centre's advice, the facility's notes and attachments:
//! the non-continuous information shared between a facility and the centre.
//!
//! A stream is associated to a patient's monitoring episode by staff. The centre's **advice**
//! (observe, conservative measures, prepare or perform expedited delivery, maternal transport)
//! is recorded against the episode with who and when. The facility records the labour's
//! course as it goes ([`LabourObservation`]: dilation, oxytocin, epidural, temperature,
//! membranes and liquor), so that whoever reads the trace at the centre reads it with the
//! context the bedside has (clinical.md §4.1: central monitoring led to decisions "without full
//! clinical information"). Attachments (images, PDFs, text) are
//! stored in the database, at most [`MAX_ATTACHMENT_BYTES`] each, and only when their bytes
//! match the declared type (magic numbers), so nothing else is served back to a browser.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Largest attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

/// What the centre advises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceAction {
    /// Keep observing.
    Observe,
    /// Conservative measures (position change, oxygen, stop oxytocin, fluids …).
    ConservativeMeasures,
    /// Prepare for an expedited delivery.
    PrepareExpeditedDelivery,
    /// Perform an expedited delivery now.
    PerformExpeditedDelivery,
    /// Transfer the mother to a higher-level centre.
    MaternalTransport,
}

impl AdviceAction {
    /// Whether the advice escalates care (an expedited delivery, a transfer): such advice is
    /// given only once the centre has confirmed with the bedside carer who the patient is and
    /// how things stand (clinical.md §4.1–4.2: central monitoring led to decisions "without
    /// full clinical information"; "always confirm patient identity with the bedside carer";
    /// "never diagnose remotely in isolation").
    pub fn escalates(self) -> bool {
        matches!(
            self,
            AdviceAction::PrepareExpeditedDelivery
                | AdviceAction::PerformExpeditedDelivery
                | AdviceAction::MaternalTransport
        )
    }

    fn name(self) -> &'static str {
        match self {
            AdviceAction::Observe => "observe",
            AdviceAction::ConservativeMeasures => "conservative_measures",
            AdviceAction::PrepareExpeditedDelivery => "prepare_expedited_delivery",
            AdviceAction::PerformExpeditedDelivery => "perform_expedited_delivery",
            AdviceAction::MaternalTransport => "maternal_transport",
        }
    }
}

/// A patient as entered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPatient {
    /// The facility she is at.
    pub facility: String,
    /// The facility's own patient ID.
    pub patient_ref: String,
    /// Name.
    pub name: String,
    /// Gestational age, completed weeks.
    pub gestational_weeks: Option<u32>,
    /// Gestational age, days beyond the weeks.
    pub gestational_days: Option<u32>,
    /// Parity.
    pub parity: Option<u32>,
    /// History, course of pregnancy, risk factors.
    #[serde(default)]
    pub notes: String,
}

/// A patient as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Patient {
    /// ID.
    pub id: i64,
    /// What was entered.
    #[serde(flatten)]
    pub details: NewPatient,
}

/// A line of the advice log or the notes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// ID.
    pub id: i64,
    /// When.
    pub at_ms: i64,
    /// Who.
    pub by: String,
    /// For advice: the action.
    pub action: Option<String>,
    /// The text.
    pub text: String,
    /// For advice: the bedside carer with whom the centre confirmed the patient's identity and
    /// situation before giving it (required for advice that escalates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_with: Option<String>,
}

/// An episode with its log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Episode {
    /// ID.
    pub id: i64,
    /// The patient.
    pub patient_id: i64,
    /// The stream monitored in it.
    pub stream_id: Option<i64>,
    /// When it began.
    pub started_ms: i64,
    /// The centre's advice.
    pub advice: Vec<Entry>,
    /// The facility's notes.
    pub notes: Vec<Entry>,
    /// The labour's course as observed at the bedside, oldest first.
    pub observations: Vec<Observation>,
    /// Each observed field's newest value ([`LabourContext::of`] the observations).
    pub context: LabourContext,
}

/// The membranes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membranes {
    /// Intact.
    Intact,
    /// Ruptured (spontaneously or artificially).
    Ruptured,
}

/// The amniotic fluid as seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquor {
    /// Clear.
    Clear,
    /// Meconium-stained.
    Meconium,
    /// Blood-stained.
    Bloody,
}

/// What the bedside observed at one time; each field only where it was observed (a later
/// observation that leaves a field out leaves its earlier value standing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabourObservation {
    /// Cervical dilation, cm (0–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dilation_cm: Option<f64>,
    /// Oxytocin infusion rate, mU/min (0: stopped; at most 40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oxytocin_mu_min: Option<f64>,
    /// Epidural (neuraxial) analgesia running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epidural: Option<bool>,
    /// Maternal temperature, °C (34–43).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// The membranes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membranes: Option<Membranes>,
    /// The liquor (with ruptured membranes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liquor: Option<Liquor>,
}

/// How long after it was made an observation may be recorded with its time (an examination
/// written up at the end of a busy hour; the shift's notes are for anything older).
pub const OBSERVED_BACK_MS: i64 = 12 * 3600 * 1000;

/// How far ahead of the hub's clock an observation's time may lie (the recording device's
/// clock a little ahead).
const OBSERVED_AHEAD_MS: i64 = 60_000;

/// Maternal temperature from which the viewer marks it (intrapartum fever: ≥ 38.0 °C, NICE
/// NG235 and ACOG Committee Opinion 712).
pub const FEVER_C: f64 = 38.0;

impl LabourObservation {
    /// Checks that something was observed and each value is one a bedside could record.
    pub fn check(&self) -> Result<()> {
        let within = |value: Option<f64>, low: f64, high: f64, what: &str| -> Result<()> {
            match value {
                Some(v) if !(v.is_finite() && (low..=high).contains(&v)) => {
                    bail!("{what} must be {low}–{high}, not {v}")
                }
                _ => Ok(()),
            }
        };
        within(self.dilation_cm, 0.0, 10.0, "dilation (cm)")?;
        within(self.oxytocin_mu_min, 0.0, 40.0, "oxytocin (mU/min)")?;
        within(self.temperature_c, 34.0, 43.0, "temperature (°C)")?;
        if self.liquor.is_some() && self.membranes == Some(Membranes::Intact) {
            bail!("liquor is seen only with ruptured membranes");
        }
        if *self == LabourObservation::default() {
            bail!("an observation needs at least one value");
        }
        Ok(())
    }
}

/// A labour observation as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// ID.
    pub id: i64,
    /// When it was observed (ms since the Unix epoch): the time the bedside gave (an
    /// examination recorded afterwards), else when it was recorded.
    pub at_ms: i64,
    /// When it was recorded.
    pub recorded_ms: i64,
    /// Withdrawn as entered in error (by whom, when, why): still listed, struck through, and
    /// no part of the labour's context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retracted: Option<Retraction>,
    /// Who.
    pub by: String,
    /// What.
    #[serde(flatten)]
    pub observed: LabourObservation,
}

/// An observation withdrawn as entered in error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// Who withdrew it.
    pub by: String,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
    /// Why (what was wrong).
    pub reason: String,
}

/// One value of the labour's context and when it was observed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Observed<T> {
    /// The value.
    pub value: T,
    /// When it was observed (ms since the Unix epoch).
    pub at_ms: i64,
}

/// The labour's context now: each field's newest observed value, with its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LabourContext {
    /// Cervical dilation, cm.
    pub dilation_cm: Option<Observed<f64>>,
    /// Oxytocin, mU/min (0: stopped).
    pub oxytocin_mu_min: Option<Observed<f64>>,
    /// Epidural running.
    pub epidural: Option<Observed<bool>>,
    /// Maternal temperature, °C.
    pub temperature_c: Option<Observed<f64>>,
    /// Membranes.
    pub membranes: Option<Observed<Membranes>>,
    /// Liquor.
    pub liquor: Option<Observed<Liquor>>,
}

impl LabourContext {
    /// The context after `observations` (in any order; the newest value of each field wins,
    /// the later-recorded on a tie; one withdrawn as entered in error counts for nothing).
    pub fn of(observations: &[Observation]) -> LabourContext {
        let mut ordered: Vec<&Observation> = observations
            .iter()
            .filter(|o| o.retracted.is_none())
            .collect();
        ordered.sort_by_key(|o| (o.at_ms, o.id));
        let mut context = LabourContext::default();
        for o in ordered {
            let at_ms = o.at_ms;
            let v = o.observed;
            if let Some(value) = v.dilation_cm {
                context.dilation_cm = Some(Observed { value, at_ms });
            }
            if let Some(value) = v.oxytocin_mu_min {
                context.oxytocin_mu_min = Some(Observed { value, at_ms });
            }
            if let Some(value) = v.epidural {
                context.epidural = Some(Observed { value, at_ms });
            }
            if let Some(value) = v.temperature_c {
                context.temperature_c = Some(Observed { value, at_ms });
            }
            if let Some(value) = v.membranes {
                context.membranes = Some(Observed { value, at_ms });
            }
            if let Some(value) = v.liquor {
                context.liquor = Some(Observed { value, at_ms });
            }
        }
        context
    }
}

/// Labour observations by episode, oldest first: of `episode`, or (None) of every stream's
/// newest episode, in one query.
fn observations_by_episode(
    db: &Connection,
    episode: Option<i64>,
) -> Result<HashMap<i64, Vec<Observation>>> {
    let mut query = db.prepare_cached(
        "SELECT episode_id, id, at_ms, by, text, observed_ms, retraction FROM episode_log
          WHERE kind='observation' AND episode_id IN (
                SELECT id FROM episodes WHERE id = ?1
                UNION ALL
                SELECT MAX(id) FROM episodes
                 WHERE ?1 IS NULL AND stream_id IS NOT NULL GROUP BY stream_id)
          ORDER BY id",
    )?;
    let rows = query.query_map([episode], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out: HashMap<i64, Vec<Observation>> = HashMap::new();
    for row in rows {
        let (episode, id, recorded_ms, by, text, observed_ms, retraction) = row?;
        out.entry(episode).or_default().push(Observation {
            id,
            at_ms: observed_ms.unwrap_or(recorded_ms),
            recorded_ms,
            retracted: retraction
                .map(|json| serde_json::from_str(&json))
                .transpose()?,
            by,
            observed: serde_json::from_str(&text)?,
        });
    }
    // In the order they were observed (one recorded afterwards among the earlier ones).
    for observations in out.values_mut() {
        observations.sort_by_key(|o| (o.at_ms, o.id));
    }
    Ok(out)
}

/// An attachment's description (the bytes are fetched separately).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    /// ID.
    pub id: i64,
    /// The patient.
    pub patient_id: i64,
    /// File name.
    pub name: String,
    /// Content type (checked against the bytes).
    pub content_type: String,
    /// Size.
    pub bytes: usize,
}

/// An attachment with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The patient.
    pub patient_id: i64,
    /// File name.
    pub name: String,
    /// Content type (checked against the bytes when stored).
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A patient from her stored row (id, details as JSON), if there was one.
fn patient_of_row(row: Option<(i64, String)>) -> Result<Option<Patient>> {
    row.map(|(id, details)| {
        Ok(Patient {
            id,
            details: serde_json::from_str(&details)?,
        })
    })
    .transpose()
}

/// The records store.
pub struct Records {
    db: Mutex<Connection>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    crate::utc_now_ms()
}

/// Checks that `bytes` really are `content_type`; the canonical type if so.
pub fn check_content(content_type: &str, bytes: &[u8]) -> Result<&'static str> {
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        bail!(
            "attachment of {} bytes; at most {MAX_ATTACHMENT_BYTES}",
            bytes.len()
        );
    }
    let declared = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (canonical, ok) = match declared.as_str() {
        "image/png" => ("image/png", bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
        "image/jpeg" => ("image/jpeg", bytes.starts_with(&[0xFF, 0xD8, 0xFF])),
        "application/pdf" => ("application/pdf", bytes.starts_with(b"%PDF-")),
        "text/plain" => (
            "text/plain",
            std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')),
        ),
        other => bail!(
            "content type {other:?} is not taken: image/png, image/jpeg, application/pdf or text/plain"
        ),
    };
    if !ok {
        bail!("the bytes are not {canonical}");
    }
    Ok(canonical)
}

impl Records {
    /// Opens the records tables in the hub's database.
    pub fn open(path: &Path) -> Result<Records> {
        let db = crate::store::open_database(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS patients(
                 id INTEGER PRIMARY KEY, facility TEXT NOT NULL, details TEXT NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS episodes(
                 id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL, stream_id INTEGER,
                 started_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS episode_log(
                 id INTEGER PRIMARY KEY, episode_id INTEGER NOT NULL, kind TEXT NOT NULL,
                 at_ms INTEGER NOT NULL, by TEXT NOT NULL, action TEXT, text TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS findings(
                 id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,
                 kind TEXT NOT NULL, finding TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS findings_by_stream ON findings(stream_id, id);
             CREATE INDEX IF NOT EXISTS episode_log_by_episode ON episode_log(episode_id, kind, id);
             CREATE TABLE IF NOT EXISTS attachments(
                 id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL, name TEXT NOT NULL,
                 content_type TEXT NOT NULL, data BLOB NOT NULL, at_ms INTEGER NOT NULL, by TEXT NOT NULL);",
        )?;
        // The bedside carer an advice was confirmed with, added to a database made before it.
        let present: bool = db
            .prepare(
                "SELECT 1 FROM pragma_table_info('episode_log') WHERE name = 'confirmed_with'",
            )?
            .exists([])?;
        if !present {
            db.execute_batch("ALTER TABLE episode_log ADD COLUMN confirmed_with TEXT;")?;
        }
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS stream_endings(
                 stream_id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, by TEXT NOT NULL,
                 reason TEXT NOT NULL);",
        )?;
        // When a labour observation was made, where recorded afterwards (likewise).
        let present: bool = db
            .prepare("SELECT 1 FROM pragma_table_info('episode_log') WHERE name = 'observed_ms'")?
            .exists([])?;
        if !present {
            db.execute_batch("ALTER TABLE episode_log ADD COLUMN observed_ms INTEGER;")?;
        }
        // An observation withdrawn as entered in error (likewise).
        let present: bool = db
            .prepare("SELECT 1 FROM pragma_table_info('episode_log') WHERE name = 'retraction'")?
            .exists([])?;
        if !present {
            db.execute_batch("ALTER TABLE episode_log ADD COLUMN retraction TEXT;")?;
        }
        Ok(Records { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a patient.
    pub fn add_patient(&self, patient: &NewPatient) -> Result<i64> {
        if patient.patient_ref.trim().is_empty()
            || patient.name.len() > 200
            || patient.notes.len() > 20_000
        {
            bail!("a patient needs a patient ID; name ≤ 200 and notes ≤ 20,000 characters");
        }
        if patient
            .gestational_weeks
            .is_some_and(|w| !(20..=44).contains(&w))
            || patient.gestational_days.is_some_and(|d| d > 6)
        {
            bail!("gestational age must be 20–44 weeks and 0–6 days");
        }
        let db = self.db();
        db.execute(
            "INSERT INTO patients(facility, details, created_ms) VALUES(?1,?2,?3)",
            params![patient.facility, serde_json::to_string(patient)?, now_ms()],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// A patient.
    pub fn patient(&self, id: i64) -> Result<Option<Patient>> {
        let row: Option<String> = self
            .db()
            .query_row("SELECT details FROM patients WHERE id=?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        patient_of_row(row.map(|details| (id, details)))
    }

    /// Every patient (the caller filters by visibility).
    pub fn patients(&self) -> Result<Vec<Patient>> {
        let db = self.db();
        let mut query = db.prepare("SELECT id, details FROM patients ORDER BY id")?;
        let rows = query.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, details) = row?;
            out.push(Patient {
                id,
                details: serde_json::from_str(&details)?,
            });
        }
        Ok(out)
    }

    /// Records that the monitoring of `stream` has ended (the labour over, the woman moved),
    /// with why; returns when. An ending recorded again replaces the earlier one.
    pub fn end_stream(&self, stream: i64, by: &str, reason: &str) -> Result<i64> {
        let reason = reason.trim();
        if reason.is_empty() {
            bail!("say why the monitoring ended (the reason is recorded)");
        }
        if reason.chars().count() > 200 {
            bail!("at most 200 characters");
        }
        let at = now_ms();
        self.db().execute(
            "INSERT INTO stream_endings(stream_id, at_ms, by, reason) VALUES(?1, ?2, ?3, ?4)
             ON CONFLICT(stream_id) DO UPDATE SET at_ms=excluded.at_ms, by=excluded.by,
                                                reason=excluded.reason",
            params![stream, at, by, reason],
        )?;
        Ok(at)
    }

    /// The monitoring of `stream` goes on after all (its monitor sent again): no longer ended.
    pub fn resume_stream(&self, stream: i64) -> Result<()> {
        self.db()
            .execute("DELETE FROM stream_endings WHERE stream_id=?1", [stream])?;
        Ok(())
    }

    /// The streams whose monitoring has ended, with when.
    pub fn ended_streams(&self) -> Result<HashMap<i64, i64>> {
        let db = self.db();
        let mut q = db.prepare("SELECT stream_id, at_ms FROM stream_endings")?;
        let rows = q.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Per stream, its newest episode, that episode's patient and its labour's context now.
    pub fn stream_patients(&self) -> Result<HashMap<i64, (i64, Patient, LabourContext)>> {
        let db = self.db();
        let mut query = db.prepare(
            "SELECT e.stream_id, e.id, p.id, p.details FROM episodes e JOIN patients p ON p.id = e.patient_id
             WHERE e.stream_id IS NOT NULL ORDER BY e.id",
        )?;
        let rows = query.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut newest = HashMap::new();
        for row in rows {
            let (stream, episode, id, details) = row?;
            newest.insert(
                stream,
                (
                    episode,
                    Patient {
                        id,
                        details: serde_json::from_str(&details)?,
                    },
                ),
            );
        }
        let observations = observations_by_episode(&db, None)?;
        let mut out = HashMap::new();
        for (stream, (episode, patient)) in newest {
            let context = observations
                .get(&episode)
                .map_or_else(LabourContext::default, |o| LabourContext::of(o));
            out.insert(stream, (episode, patient, context));
        }
        Ok(out)
    }

    /// The gestational age (completed weeks) of the patient of a stream's newest episode, if
    /// entered.
    pub fn stream_gestational_weeks(&self, stream_id: i64) -> Result<Option<u32>> {
        let details: Option<String> = self
            .db()
            .query_row(
                "SELECT p.details FROM episodes e JOIN patients p ON p.id = e.patient_id
                 WHERE e.stream_id = ?1 ORDER BY e.id DESC LIMIT 1",
                [stream_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match details {
            Some(d) => serde_json::from_str::<NewPatient>(&d)?.gestational_weeks,
            None => None,
        })
    }

    /// The patient of a stream's newest episode, if any.
    pub fn stream_patient(&self, stream_id: i64) -> Result<Option<Patient>> {
        let row: Option<(i64, String)> = self
            .db()
            .query_row(
                "SELECT p.id, p.details FROM episodes e JOIN patients p ON p.id = e.patient_id
                 WHERE e.stream_id = ?1 ORDER BY e.id DESC LIMIT 1",
                [stream_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        patient_of_row(row)
    }

    /// The facility's patient with this patient ID (the earliest entered, if several).
    pub fn patient_by_ref(&self, facility: &str, patient_ref: &str) -> Result<Option<Patient>> {
        let db = self.db();
        let mut query = db.prepare(
            "SELECT id, details FROM patients
              WHERE facility = ?1 AND json_extract(details, '$.patient_ref') = ?2
              ORDER BY id LIMIT 1",
        )?;
        let row: Option<(i64, String)> = query
            .query_row(params![facility, patient_ref], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        patient_of_row(row)
    }

    /// Starts an episode for a patient, monitored on a stream.
    pub fn add_episode(&self, patient_id: i64, stream_id: Option<i64>) -> Result<i64> {
        let db = self.db();
        db.execute(
            "INSERT INTO episodes(patient_id, stream_id, started_ms) VALUES(?1,?2,?3)",
            params![patient_id, stream_id, now_ms()],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// The patient an episode belongs to.
    pub fn episode_patient(&self, episode: i64) -> Result<Option<i64>> {
        Ok(self
            .db()
            .query_row(
                "SELECT patient_id FROM episodes WHERE id=?1",
                [episode],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records the centre's advice; `confirmed_with` names the bedside carer with whom the
    /// patient's identity and situation were confirmed, required where the advice escalates
    /// ([`AdviceAction::escalates`]).
    pub fn add_advice(
        &self,
        episode: i64,
        by: &str,
        action: AdviceAction,
        text: &str,
        confirmed_with: Option<&str>,
    ) -> Result<i64> {
        let confirmed_with = confirmed_with.map(str::trim).filter(|c| !c.is_empty());
        if action.escalates() && confirmed_with.is_none() {
            bail!(
                "advice to {} is given only after confirming the patient's identity and situation with the bedside carer: name them",
                action.name().replace('_', " ")
            );
        }
        if confirmed_with.is_some_and(|c| c.chars().count() > 100) {
            bail!("the bedside carer's name: at most 100 characters");
        }
        self.log(
            episode,
            "advice",
            by,
            Some(action.name()),
            text,
            confirmed_with,
        )
    }

    /// Records a facility note.
    pub fn add_note(&self, episode: i64, by: &str, text: &str) -> Result<i64> {
        self.log(episode, "note", by, None, text, None)
    }

    /// Records a labour observation ([`LabourObservation::check`]ed first).
    pub fn add_observation(
        &self,
        episode: i64,
        by: &str,
        observed: &LabourObservation,
        observed_ms: Option<i64>,
    ) -> Result<i64> {
        observed.check()?;
        let now = now_ms();
        if let Some(at) = observed_ms {
            if at > now + OBSERVED_AHEAD_MS {
                bail!("an observation cannot be made later than now");
            }
            if at < now - OBSERVED_BACK_MS {
                bail!(
                    "an observation is recorded within {} hours of being made",
                    OBSERVED_BACK_MS / 3_600_000
                );
            }
        }
        let db = self.db();
        db.execute(
            "INSERT INTO episode_log(episode_id, kind, at_ms, by, text, observed_ms)
             VALUES(?1, 'observation', ?2, ?3, ?4, ?5)",
            params![
                episode,
                now,
                by,
                serde_json::to_string(observed)?,
                observed_ms
            ],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// Withdraws labour observation `id` of `episode` as entered in error, saying why: it stays
    /// listed (struck through, with who withdrew it and why) and leaves the labour's context,
    /// where the value before it stands again. Refused for another episode's observation, one
    /// already withdrawn, or without a reason.
    pub fn retract_observation(&self, episode: i64, id: i64, by: &str, reason: &str) -> Result<()> {
        let reason = reason.trim();
        if reason.is_empty() {
            bail!("say what was wrong (the reason is recorded)");
        }
        if reason.chars().count() > 200 {
            bail!("at most 200 characters");
        }
        let retraction = Retraction {
            by: by.to_owned(),
            at_ms: now_ms(),
            reason: reason.to_owned(),
        };
        let db = self.db();
        let changed = db.execute(
            "UPDATE episode_log SET retraction=?1
              WHERE id=?2 AND episode_id=?3 AND kind='observation' AND retraction IS NULL",
            params![serde_json::to_string(&retraction)?, id, episode],
        )?;
        if changed == 0 {
            bail!("no observation {id} of episode {episode} that is not already withdrawn");
        }
        Ok(())
    }

    fn log(
        &self,
        episode: i64,
        kind: &str,
        by: &str,
        action: Option<&str>,
        text: &str,
        confirmed_with: Option<&str>,
    ) -> Result<i64> {
        if text.len() > 10_000 {
            bail!("at most 10,000 characters");
        }
        let db = self.db();
        db.execute(
            "INSERT INTO episode_log(episode_id, kind, at_ms, by, action, text, confirmed_with)
             VALUES(?1,?2,?3,?4,?5,?6,?7)",
            params![episode, kind, now_ms(), by, action, text, confirmed_with],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// The episodes of a patient with their logs.
    pub fn episodes(&self, patient_id: i64) -> Result<Vec<Episode>> {
        let db = self.db();
        let mut query = db.prepare(
            "SELECT id, stream_id, started_ms FROM episodes WHERE patient_id=?1 ORDER BY id",
        )?;
        let rows = query.query_map([patient_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, stream_id, started_ms) = row?;
            let mut log = db.prepare(
                "SELECT id, kind, at_ms, by, action, text, confirmed_with FROM episode_log
                  WHERE episode_id=?1 AND kind IN ('advice', 'note') ORDER BY id",
            )?;
            let entries = log.query_map([id], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    Entry {
                        id: r.get(0)?,
                        at_ms: r.get(2)?,
                        by: r.get(3)?,
                        action: r.get(4)?,
                        text: r.get(5)?,
                        confirmed_with: r.get(6)?,
                    },
                ))
            })?;
            let (mut advice, mut notes) = (Vec::new(), Vec::new());
            for entry in entries {
                let (kind, entry) = entry?;
                match kind.as_str() {
                    "advice" => advice.push(entry),
                    "note" => notes.push(entry),
                    _ => {}
                }
            }
            let observations = observations_by_episode(&db, Some(id))?
                .remove(&id)
                .unwrap_or_default();
            let context = LabourContext::of(&observations);
            out.push(Episode {
                id,
                patient_id,
                stream_id,
                started_ms,
                advice,
                notes,
                observations,
                context,
            });
        }
        Ok(out)
    }

    /// Stores an analysis finding of a stream (`ctg_dsp::json::finding`).
    pub fn add_finding(&self, stream: i64, finding: &serde_json::Value) -> Result<()> {
        self.add_findings(&[(stream, finding)])
    }

    /// Stores findings of any streams in one transaction (one fsync for a burst).
    pub fn add_findings(&self, findings: &[(i64, &serde_json::Value)]) -> Result<()> {
        let mut db = self.db();
        let transaction = db.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO findings(stream_id, at_ms, kind, finding) VALUES(?1,?2,?3,?4)",
            )?;
            let now = now_ms();
            for (stream, finding) in findings {
                insert.execute(params![
                    stream,
                    now,
                    finding["kind"].as_str().unwrap_or("?"),
                    finding.to_string()
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The findings of a stream, oldest first, optionally of one kind, at most `limit`.
    pub fn findings(
        &self,
        stream: i64,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        self.findings_where(
            "SELECT finding FROM (SELECT id, finding FROM findings WHERE stream_id=?1 AND (?2 IS NULL OR kind=?2)
               ORDER BY id DESC LIMIT ?3) ORDER BY id",
            params![stream, kind, limit as i64],
        )
    }

    /// The findings of a stream that start at or after `start_s`, oldest first, at most
    /// `limit` (a stream's analysis taken up again mid-window does not tell them twice).
    pub fn findings_from(
        &self,
        stream: i64,
        start_s: f64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        self.findings_where(
            "SELECT finding FROM findings
              WHERE stream_id=?1 AND json_extract(finding, '$.start_s') >= ?2
              ORDER BY id LIMIT ?3",
            params![stream, start_s, limit as i64],
        )
    }

    /// The findings `sql` selects (one column, the finding's JSON), parsed.
    fn findings_where(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<serde_json::Value>> {
        let db = self.db();
        let mut query = db.prepare(sql)?;
        let rows = query.query_map(params, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Stores an attachment after checking its bytes against its type.
    pub fn add_attachment(
        &self,
        patient_id: i64,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        by: &str,
    ) -> Result<i64> {
        let canonical = check_content(content_type, bytes)?;
        let name: String = name
            .chars()
            .filter(|c| !c.is_control() && !"/\\\"".contains(*c))
            .take(120)
            .collect();
        let db = self.db();
        db.execute(
            "INSERT INTO attachments(patient_id, name, content_type, data, at_ms, by) VALUES(?1,?2,?3,?4,?5,?6)",
            params![patient_id, if name.is_empty() { "attachment".to_owned() } else { name }, canonical, bytes, now_ms(), by],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// The attachments of a patient.
    pub fn attachments(&self, patient_id: i64) -> Result<Vec<AttachmentInfo>> {
        let db = self.db();
        let mut query = db.prepare("SELECT id, name, content_type, length(data) FROM attachments WHERE patient_id=?1 ORDER BY id")?;
        let rows = query.query_map([patient_id], |r| {
            Ok(AttachmentInfo {
                id: r.get(0)?,
                patient_id,
                name: r.get(1)?,
                content_type: r.get(2)?,
                bytes: r.get::<_, i64>(3)? as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An attachment.
    pub fn attachment(&self, id: i64) -> Result<Option<Attachment>> {
        Ok(self
            .db()
            .query_row(
                "SELECT patient_id, name, content_type, data FROM attachments WHERE id=?1",
                [id],
                |r| {
                    Ok(Attachment {
                        patient_id: r.get(0)?,
                        name: r.get(1)?,
                        content_type: r.get(2)?,
                        bytes: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_must_be_what_they_say() {
        assert_eq!(
            check_content("image/png", b"\x89PNG\r\n\x1a\nrest").unwrap(),
            "image/png"
        );
        assert!(check_content("image/png", b"<html><script>").is_err());
        assert!(check_content("text/html", b"<html>").is_err());
        assert!(check_content("application/pdf", b"%PDF-1.7 ...").is_ok());
        assert!(check_content("text/plain", b"a\0b").is_err());
        assert!(check_content("text/plain", &vec![b'a'; MAX_ATTACHMENT_BYTES + 1]).is_err());
    }

    #[test]
    fn an_episode_keeps_advice_and_notes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let patient = NewPatient {
            facility: "clinic-a".into(),
            patient_ref: "MRN-1".into(),
            name: "A".into(),
            gestational_weeks: Some(39),
            gestational_days: Some(2),
            parity: Some(0),
            notes: "GDM on diet".into(),
        };
        let id = records.add_patient(&patient).unwrap();
        assert!(
            records
                .add_patient(&NewPatient {
                    gestational_weeks: Some(50),
                    ..patient.clone()
                })
                .is_err()
        );
        let episode = records.add_episode(id, Some(3)).unwrap();
        records.add_note(episode, "mw-a", "CTG started").unwrap();
        records
            .add_advice(
                episode,
                "ob-c",
                AdviceAction::ConservativeMeasures,
                "left lateral, stop oxytocin",
                None,
            )
            .unwrap();
        // An escalation is advised only after confirming with the bedside carer.
        for unconfirmed in [None, Some("  ")] {
            let refused = records
                .add_advice(
                    episode,
                    "ob-c",
                    AdviceAction::MaternalTransport,
                    "to the centre",
                    unconfirmed,
                )
                .unwrap_err();
            assert!(refused.to_string().contains("bedside carer"), "{refused:#}");
        }
        records
            .add_advice(
                episode,
                "ob-c",
                AdviceAction::MaternalTransport,
                "to the centre",
                Some(" midwife Sato "),
            )
            .unwrap();
        let episodes = records.episodes(id).unwrap();
        assert_eq!(episodes[0].stream_id, Some(3));
        assert_eq!(
            episodes[0].advice[0].action.as_deref(),
            Some("conservative_measures")
        );
        assert_eq!(episodes[0].notes[0].text, "CTG started");
        assert_eq!(episodes[0].advice.len(), 2);
        assert_eq!(episodes[0].advice[0].confirmed_with, None);
        assert_eq!(
            episodes[0].advice[1].confirmed_with.as_deref(),
            Some("midwife Sato")
        );
        let json = serde_json::to_value(&episodes[0].advice[1]).unwrap();
        assert_eq!(json["confirmed_with"], "midwife Sato");
        assert!(serde_json::to_value(&episodes[0].advice[0]).unwrap()["confirmed_with"].is_null());
        assert_eq!(records.patient(id).unwrap().unwrap().details, patient);
        // The stream's analysis reads the gestational age of its newest episode's patient.
        assert_eq!(records.stream_gestational_weeks(3).unwrap(), Some(39));
        assert_eq!(records.stream_gestational_weeks(4).unwrap(), None);
    }

    /// A clinic-a patient at 40 weeks.
    fn clinic_a_patient(patient_ref: &str) -> NewPatient {
        NewPatient {
            facility: "clinic-a".into(),
            patient_ref: patient_ref.into(),
            name: format!("patient {patient_ref}"),
            gestational_weeks: Some(40),
            gestational_days: None,
            parity: Some(1),
            notes: String::new(),
        }
    }

    /// Labour observations: values a bedside could record, each field's newest value is the
    /// context (a later observation that leaves a field out leaves it standing), kept apart
    /// from the notes, and the wall's per-stream lookup carries the newest episode's context.
    #[test]
    fn labour_observations_build_the_context_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let id = records.add_patient(&clinic_a_patient("MRN-2")).unwrap();
        let first = records.add_episode(id, Some(7)).unwrap();
        records
            .add_observation(
                first,
                "mw-a",
                &LabourObservation {
                    dilation_cm: Some(9.0),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        let episode = records.add_episode(id, Some(7)).unwrap();
        for bad in [
            LabourObservation::default(),
            LabourObservation {
                dilation_cm: Some(11.0),
                ..Default::default()
            },
            LabourObservation {
                temperature_c: Some(f64::NAN),
                ..Default::default()
            },
            LabourObservation {
                oxytocin_mu_min: Some(-1.0),
                ..Default::default()
            },
            LabourObservation {
                membranes: Some(Membranes::Intact),
                liquor: Some(Liquor::Meconium),
                ..Default::default()
            },
        ] {
            assert!(
                records
                    .add_observation(episode, "mw-a", &bad, None)
                    .is_err(),
                "{bad:?}"
            );
        }
        records
            .add_observation(
                episode,
                "mw-a",
                &LabourObservation {
                    dilation_cm: Some(4.0),
                    oxytocin_mu_min: Some(4.0),
                    membranes: Some(Membranes::Intact),
                    temperature_c: Some(37.2),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        records
            .add_note(episode, "mw-a", "epidural asked for")
            .unwrap();
        records
            .add_observation(
                episode,
                "mw-b",
                &LabourObservation {
                    dilation_cm: Some(7.0),
                    epidural: Some(true),
                    membranes: Some(Membranes::Ruptured),
                    liquor: Some(Liquor::Meconium),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        let episodes = records.episodes(id).unwrap();
        let shown = &episodes[1];
        assert_eq!(shown.notes.len(), 1, "observations are not notes");
        assert_eq!(shown.observations.len(), 2);
        assert_eq!(shown.observations[1].by, "mw-b");
        let context = shown.context;
        assert_eq!(context.dilation_cm.map(|o| o.value), Some(7.0));
        assert_eq!(context.oxytocin_mu_min.map(|o| o.value), Some(4.0));
        assert_eq!(
            context.oxytocin_mu_min.map(|o| o.at_ms),
            Some(shown.observations[0].at_ms)
        );
        assert_eq!(context.temperature_c.map(|o| o.value), Some(37.2));
        assert_eq!(context.epidural.map(|o| o.value), Some(true));
        assert_eq!(
            context.membranes.map(|o| o.value),
            Some(Membranes::Ruptured)
        );
        assert_eq!(context.liquor.map(|o| o.value), Some(Liquor::Meconium));
        // The first episode keeps its own.
        assert_eq!(episodes[0].context.dilation_cm.map(|o| o.value), Some(9.0));
        let (newest, _, wall_context) = records.stream_patients().unwrap()[&7];
        assert_eq!((newest, wall_context), (episode, context));
        // What the viewer reads.
        let json = serde_json::to_value(context).unwrap();
        assert_eq!(json["liquor"]["value"], "meconium");
        assert_eq!(json["dilation_cm"]["value"], 7.0);
    }

    /// An examination recorded afterwards carries the time it was made: it takes its place
    /// among the observations by that time, so it does not hide a newer value recorded before
    /// it, and it is refused in the future or more than 12 hours back.
    #[test]
    fn an_observation_recorded_afterwards_takes_its_place_by_when_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let id = records.add_patient(&clinic_a_patient("MRN-3")).unwrap();
        let episode = records.add_episode(id, Some(8)).unwrap();
        let dilation = |cm: f64| LabourObservation {
            dilation_cm: Some(cm),
            ..Default::default()
        };
        let now = now_ms();
        records
            .add_observation(episode, "mw-a", &dilation(6.0), Some(now - 10 * 60_000))
            .unwrap();
        // The examination of 40 minutes ago, written up now.
        let earlier = now - 40 * 60_000;
        records
            .add_observation(episode, "mw-b", &dilation(4.0), Some(earlier))
            .unwrap();
        let shown = &records.episodes(id).unwrap()[0];
        let made: Vec<(f64, i64)> = shown
            .observations
            .iter()
            .map(|o| (o.observed.dilation_cm.unwrap(), o.at_ms))
            .collect();
        assert_eq!(made, vec![(4.0, earlier), (6.0, now - 10 * 60_000)]);
        assert!(shown.observations[0].recorded_ms >= now, "recorded now");
        assert_eq!(
            shown.context.dilation_cm.map(|o| o.value),
            Some(6.0),
            "the newer examination stands"
        );
        for refused in [now + 5 * 60_000, now - OBSERVED_BACK_MS - 60_000] {
            let error = records
                .add_observation(episode, "mw-a", &dilation(5.0), Some(refused))
                .unwrap_err();
            assert!(error.to_string().contains("observation"), "{error}");
        }
        assert_eq!(records.episodes(id).unwrap()[0].observations.len(), 2);
    }

    /// An observation withdrawn as entered in error stays listed, with who and why, and leaves
    /// the context, where the value before it stands again; it cannot be withdrawn twice, nor
    /// through another episode, nor without a reason.
    #[test]
    fn an_observation_entered_in_error_is_withdrawn_and_the_one_before_stands() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let id = records.add_patient(&clinic_a_patient("MRN-4")).unwrap();
        let episode = records.add_episode(id, Some(9)).unwrap();
        let other = records.add_episode(id, Some(10)).unwrap();
        let dilation = |cm: f64| LabourObservation {
            dilation_cm: Some(cm),
            ..Default::default()
        };
        records
            .add_observation(episode, "mw-a", &dilation(5.0), None)
            .unwrap();
        // 8 cm typed where 3 was found.
        let wrong = records
            .add_observation(episode, "mw-a", &dilation(8.0), None)
            .unwrap();
        assert!(
            records
                .retract_observation(episode, wrong, "mw-a", " ")
                .is_err()
        );
        assert!(
            records
                .retract_observation(other, wrong, "mw-a", "typo")
                .is_err()
        );
        records
            .retract_observation(episode, wrong, "mw-b", "typed 8 for 3")
            .unwrap();
        assert!(
            records
                .retract_observation(episode, wrong, "mw-b", "again")
                .is_err()
        );
        let shown = &records.episodes(id).unwrap()[0];
        assert_eq!(shown.observations.len(), 2, "still listed");
        let retracted = shown.observations[1].retracted.clone().unwrap();
        assert_eq!(
            (retracted.by.as_str(), retracted.reason.as_str()),
            ("mw-b", "typed 8 for 3")
        );
        assert_eq!(shown.context.dilation_cm.map(|o| o.value), Some(5.0));
        assert_eq!(
            records.stream_patients().unwrap()[&9].2,
            shown.context,
            "the wall's too"
        );
    }
}

#[cfg(test)]
mod finding_tests {
    use super::*;

    #[test]
    fn findings_are_stored_and_listed_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        records
            .add_finding(
                1,
                &serde_json::json!({"kind": "contraction", "start_s": 1.0}),
            )
            .unwrap();
        records
            .add_finding(1, &serde_json::json!({"kind": "baseline", "bpm": 140.0}))
            .unwrap();
        records
            .add_finding(2, &serde_json::json!({"kind": "baseline", "bpm": 120.0}))
            .unwrap();
        assert_eq!(records.findings(1, None, 10).unwrap().len(), 2);
        assert_eq!(
            records.findings(1, Some("baseline"), 10).unwrap()[0]["bpm"],
            140.0
        );
        assert_eq!(records.findings(2, None, 10).unwrap().len(), 1);
    }
}
