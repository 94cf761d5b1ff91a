//! Basic alerts: rules over findings, samples and stream health, with acknowledgement.
//!
//! Sans-IO and deterministic: every input carries the time (`now_ms`), nothing reads a clock,
//! so the rules are unit-tested on a simulated clock. One condition is one alert: an alert
//! stays active (and is updated, not repeated) while its condition holds, and resolves when it
//! ends. The full engine (escalation, on-call roster, push channels) is its own issue; the
//! thresholds here are the defaults it will make configurable.
//!
//! Rules (sources in clinical.md):
//! - **JSOG level ≥ 3** in a 10-minute window (JSOG 2023 5-level system: 3 = intervention
//!   considered); updated when the level rises, resolved when a window is below 3.
//! - **Prolonged deceleration** (FIGO 2015 / NICHD 2008: ≥ 2–3 min below baseline): one alert
//!   per deceleration, resolved by acknowledgement. Raised while it is still under way, once
//!   the analysis's provisional deceleration (`deceleration_under_way`, measured against the
//!   newest final baseline) has lasted [`AlertRules::prolonged_under_way_s`]; the final
//!   prolonged deceleration (known only after the baseline's 8.5-minute look-ahead) raises one
//!   only if no alert raised under way overlaps it. An open alert raised under way is worded
//!   again with what the final analysis made of it ([`Hindsight`]): confirmed by a final
//!   prolonged deceleration, only a shorter one (its type), or none, known once the window
//!   after it is classified (every final deceleration starting earlier precedes that finding).
//! - **Bradycardia**: a window's baseline below 110 bpm (NICHD 2008, FIGO 2015, JSOG).
//! - **Signal loss**: no fetal heart rate for [`AlertRules::signal_loss_ms`] (default 60 s,
//!   like a monitor's own signal-loss alarm delay); resolved when the signal returns.
//! - **Stream stalled**: no block for [`AlertRules::stalled_ms`] from a stream that was sending.
//! - **Bridge offline**: a bridge's connection gone for [`AlertRules::bridge_offline_ms`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Thresholds (configuration: `[rules]` of the alerts file, every field optional).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertRules {
    /// FHR absent this long: signal loss.
    pub signal_loss_ms: i64,
    /// No block this long: stream stalled.
    pub stalled_ms: i64,
    /// No connection this long: bridge offline.
    pub bridge_offline_ms: i64,
    /// Baseline below this: bradycardia, bpm.
    pub bradycardia_bpm: f64,
    /// JSOG level at or above this: alert.
    pub jsog_level: u8,
    /// A deceleration still under way this long raises the prolonged-deceleration alert, s
    /// (NICHD 2008 and JSOG: prolonged from 2 minutes; FIGO 2015: 3).
    pub prolonged_under_way_s: f64,
    /// A bridge's clock this far from the hub's (either way): its trace times are off by as
    /// much (a documented safety caution, clinical.md §4.10), ms. Resolved under half of it.
    pub clock_offset_ms: i64,
    /// After a hub restart, how long the streams and bridges it was watching get to come
    /// back before the stall and offline delays start (the bridge's reconnect backoff reaches
    /// 30 s), ms ([`AlertEngine::watch_after_restart`]).
    pub restart_grace_ms: i64,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            signal_loss_ms: 60_000,
            stalled_ms: 30_000,
            bridge_offline_ms: 30_000,
            bradycardia_bpm: 110.0,
            jsog_level: 3,
            prolonged_under_way_s: 120.0,
            clock_offset_ms: 30_000,
            restart_grace_ms: 30_000,
        }
    }
}

/// What the engine watches for going quiet, kept by the hub so that a restart goes on
/// watching it ([`AlertEngine::watched`], [`AlertEngine::watch_after_restart`]): a stream or
/// bridge that never comes back after a restart is told as one that stops is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Streams sending (not yet stalled): (stream, facility).
    pub streams: Vec<(i64, String)>,
    /// Bridges connected: (bridge, facility).
    pub bridges: Vec<(String, String)>,
    /// Bridges gone and not yet told offline: (bridge, facility, gone since, ms).
    pub bridges_gone: Vec<(String, String, i64)>,
}

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    /// JSOG level at or above the threshold.
    JsogLevel {
        /// The highest level seen while active.
        level: u8,
    },
    /// A prolonged deceleration starting at `start_s` into the stream.
    ProlongedDeceleration {
        /// Its start, seconds from the stream's first sample (tenths, to key it).
        start_ds: u64,
    },
    /// Baseline below the bradycardia threshold.
    Bradycardia,
    /// No fetal heart rate.
    SignalLoss,
    /// No data from the stream.
    StreamStalled,
    /// No data from the stream, and the analysis had a deceleration under way when it stopped
    /// (the same condition as [`AlertKind::StreamStalled`], one alert, told as clinical: the
    /// centre has lost sight of a fetus whose heart rate was falling).
    StalledInDeceleration,
    /// A bridge's connection is gone.
    BridgeOffline,
    /// A bridge's clock is off the hub's by more than [`AlertRules::clock_offset_ms`]: the
    /// times of its traces (and of what is placed on them) are off by as much.
    BridgeClock,
    /// More than 5 contractions per 10 minutes, averaged over 30 minutes (FIGO 2015, NICHD 2008).
    Tachysystole,
    /// A bridge's spool (data the hub has not acknowledged) is filling up.
    SpoolFilling {
        /// How full, percent of the cap (the highest seen while active).
        percent: u8,
    },
    /// The hub is not keeping up (samples dropped from analysis, live gaps skipped, the store
    /// writer's queue nearly full).
    HubOverloaded,
    /// The hub was not running for a while (stopped or crashed): nothing was watched then, and
    /// what the bridges recorded meanwhile is analysed late. Resolved by acknowledgement.
    HubDown,
    /// Two fetal channels (twins' transducers) record the same heart (the analysis's
    /// `cross_channel` check): the other twin may be unwatched.
    CrossChannel,
    /// The monitor's own cross-channel verification reports coincidence (a fetal channel
    /// recording the same heart as another: the mother's or the other twin's).
    MonitorCoincidence,
    /// A delivery channel (e-mail, Web Push, webhook) keeps failing.
    ChannelFailing {
        /// The channel's kind and address, e.g. `webhook http://pager`.
        channel: String,
    },
}

impl AlertKind {
    /// The key under which one condition is one alert.
    fn key(&self) -> String {
        match self {
            AlertKind::JsogLevel { .. } => "jsog".into(),
            AlertKind::ProlongedDeceleration { start_ds } => format!("prolonged-{start_ds}"),
            AlertKind::Bradycardia => "bradycardia".into(),
            AlertKind::SignalLoss => "signal-loss".into(),
            AlertKind::StreamStalled | AlertKind::StalledInDeceleration => "stalled".into(),
            AlertKind::BridgeOffline => "bridge-offline".into(),
            AlertKind::BridgeClock => "bridge-clock".into(),
            AlertKind::Tachysystole => "tachysystole".into(),
            AlertKind::HubOverloaded => "hub-overloaded".into(),
            AlertKind::HubDown => "hub-down".into(),
            AlertKind::SpoolFilling { .. } => "spool".into(),
            AlertKind::ChannelFailing { channel } => format!("channel-{channel}"),
            AlertKind::CrossChannel => "cross-channel".into(),
            AlertKind::MonitorCoincidence => "monitor-coincidence".into(),
        }
    }

    /// True for clinical alerts (false for technical ones).
    pub fn clinical(&self) -> bool {
        matches!(
            self,
            AlertKind::JsogLevel { .. }
                | AlertKind::ProlongedDeceleration { .. }
                | AlertKind::Bradycardia
                | AlertKind::Tachysystole
                | AlertKind::StalledInDeceleration
        )
    }
}

/// What an alert is attached to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A stream (by store ID) of a facility.
    Stream {
        /// Stream ID.
        id: i64,
        /// Its facility.
        facility: String,
        /// Which fetus, once the stream's fetal channels are analysed separately (twins: the
        /// finding's `fetal_channel`, `fhr1`, `fhr2` or `fhr3`); none for a stream's one fetus
        /// and for what is about the whole stream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fetus: Option<String>,
    },
    /// A bridge of a facility.
    Bridge {
        /// The bridge's name.
        name: String,
        /// Its facility.
        facility: String,
    },
}

impl Subject {
    /// The facility, for visibility checks.
    pub fn facility(&self) -> &str {
        match self {
            Subject::Stream { facility, .. } | Subject::Bridge { facility, .. } => facility,
        }
    }
}

/// An acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// Who.
    pub by: String,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Why / what was done.
    pub reason: String,
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// ID.
    pub id: u64,
    /// What.
    pub kind: AlertKind,
    /// About what.
    pub subject: Subject,
    /// Raised at.
    pub raised_ms: i64,
    /// What it is about, in English (logs, e-mail, webhooks).
    pub detail: String,
    /// The same as facts, for a viewer to say in its own language: `{"text": name, …numbers}`
    /// ([`Said`]); null for an alert whose detail has no facts (the hub's own trouble).
    #[serde(default)]
    pub facts: serde_json::Value,
    /// Acknowledged?
    pub acknowledged: Option<Acknowledgement>,
    /// Resolved at (the condition ended).
    pub resolved_ms: Option<i64>,
}

impl Alert {
    /// Whether someone still has to deal with it: its condition is not over, or nobody has
    /// acknowledged it (the wall keeps a resolved alert until someone does). Such alerts are
    /// held again after a hub restart ([`AlertEngine::restore`]).
    pub fn needs_attention(&self) -> bool {
        self.resolved_ms.is_none() || self.acknowledged.is_none()
    }
}

/// What an alert says: its facts (minutes to one decimal, bpm and counts whole), worded in
/// English for [`Alert::detail`] and given as `{"text": …}` facts for [`Alert::facts`], which
/// the viewer words in the user's language (its `alert_<text>` phrases).
#[derive(Clone, Debug, PartialEq)]
pub enum Said {
    /// A window's JSOG level.
    JsogWindow {
        level: u8,
        from_min: f64,
        to_min: f64,
        table: String,
        /// The table's inputs, by their names in the table file (the classification's
        /// evidence): baseline column, variability band, deceleration row.
        inputs: Option<[String; 3]>,
    },
    /// A provisional deceleration still under way.
    ProlongedUnderWay {
        start_min: f64,
        minutes: f64,
        depth_bpm: f64,
    },
    /// A provisional deceleration that passed the limit between two messages and is over.
    ProlongedEnded {
        start_min: f64,
        minutes: f64,
        depth_bpm: f64,
    },
    /// A final prolonged deceleration.
    ProlongedFinal {
        start_min: f64,
        minutes: f64,
        depth_bpm: f64,
    },
    /// A prolonged deceleration told while under way, as the final analysis saw it later.
    ProlongedReviewed {
        start_min: f64,
        minutes: f64,
        depth_bpm: f64,
        hindsight: Hindsight,
    },
    /// Contractions in the last 30 minutes.
    Tachysystole { count: usize },
    /// A window's baseline below the limit.
    Bradycardia { bpm: f64, limit_bpm: f64 },
    /// Seconds without a fetal heart rate.
    SignalLoss { seconds: i64 },
    /// Seconds without data from a stream.
    StreamStalled { seconds: i64 },
    /// Seconds without data from a stream that stopped during a deceleration under way (its
    /// start, minutes so far and depth when last told).
    StalledInDeceleration {
        seconds: i64,
        start_min: f64,
        minutes: f64,
        depth_bpm: f64,
    },
    /// Seconds a bridge has been offline.
    BridgeOffline { bridge: String, seconds: i64 },
    /// A bridge's clock against the hub's, seconds (positive: ahead).
    BridgeClock { bridge: String, seconds: i64 },
    /// A bridge's spool filling.
    SpoolFilling {
        percent: u8,
        used_mib: u64,
        cap_mib: u64,
    },
    /// A delivery channel failing.
    ChannelFailing { channel: String },
    /// Two fetal channels recording one heart since `from_min`.
    CrossChannel { channels: String, from_min: f64 },
    /// The monitor reporting coincidence since `from_min`.
    MonitorCoincidence { from_min: f64 },
    /// Minutes the hub was not running, before the start that says so.
    HubDown { minutes: i64 },
    /// Words with no facts (the hub's own trouble, in English).
    Words(String),
}

/// What the final analysis (with the baseline around it, about 10 minutes later) made of a
/// deceleration told while under way.
#[derive(Clone, Debug, PartialEq)]
pub enum Hindsight {
    /// A final prolonged deceleration overlaps it.
    Confirmed { minutes: f64, depth_bpm: f64 },
    /// Only a shorter one does: its type (`early`, `late`, `variable`).
    Shorter {
        kind: String,
        minutes: f64,
        depth_bpm: f64,
    },
    /// No final deceleration overlaps it (against the later baseline it was none, or the
    /// signal around it was too poor for a pattern finding).
    None,
}

/// The viewer's name of a deceleration type (its `early`, `late`, … phrases in English).
pub fn deceleration_name(kind: &str) -> String {
    match kind {
        "early" => "Early deceleration".into(),
        "late" => "Late deceleration".into(),
        "variable" => "Variable deceleration".into(),
        "prolonged" => "Prolonged deceleration".into(),
        other => format!("{other} deceleration"),
    }
}

/// The viewer's English for a JSOG table input (its `col_`, `var_` and `row_` phrases): the
/// baseline column, variability band or deceleration row named as in the table file.
pub fn table_input_name(name: &str) -> String {
    match name {
        "bradycardia_below_80" => "bradycardia (< 80 bpm)".into(),
        "moderate" => "normal".into(),
        other => match other.split_once('_') {
            Some((kind, "mild" | "severe")) => {
                format!("{} {kind}", &other[kind.len() + 1..])
            }
            _ => other.to_owned(),
        },
    }
}

/// A deceleration's facts: `text`, its start and length in minutes (one decimal) and depth.
fn deceleration_facts(
    text: &str,
    start_min: f64,
    minutes: f64,
    depth_bpm: f64,
) -> serde_json::Value {
    serde_json::json!({"text": text, "start_min": tenth(start_min), "minutes": tenth(minutes),
                       "depth_bpm": depth_bpm.round()})
}

/// Minutes to one decimal (as the English says them).
fn tenth(minutes: f64) -> f64 {
    (minutes * 10.0).round() / 10.0
}

impl Said {
    /// In English.
    pub fn english(&self) -> String {
        match self {
            Said::JsogWindow {
                level,
                from_min,
                to_min,
                table,
                inputs,
            } => {
                let window = format!(
                    "JSOG level {level} in the window {}–{} min (table {table})",
                    from_min.round(),
                    to_min.round()
                );
                match inputs {
                    Some([baseline, variability, deceleration]) => format!(
                        "{window}: baseline {}, variability {}, decelerations {}",
                        table_input_name(baseline),
                        table_input_name(variability),
                        table_input_name(deceleration)
                    ),
                    None => window,
                }
            }
            Said::ProlongedUnderWay {
                start_min,
                minutes,
                depth_bpm,
            } => format!(
                "prolonged deceleration under way since {:.1} min: {:.1} min so far, \
                 {} bpm deep (provisional: against the baseline known so far)",
                tenth(*start_min),
                tenth(*minutes),
                depth_bpm.round()
            ),
            Said::ProlongedEnded {
                start_min,
                minutes,
                depth_bpm,
            } => format!(
                "prolonged deceleration from {:.1} min: {:.1} min long, \
                 {} bpm deep (provisional: against the baseline known then)",
                tenth(*start_min),
                tenth(*minutes),
                depth_bpm.round()
            ),
            Said::ProlongedFinal {
                start_min,
                minutes,
                depth_bpm,
            } => format!(
                "prolonged deceleration at {:.1} min, {} bpm deep, {:.1} min long",
                tenth(*start_min),
                depth_bpm.round(),
                tenth(*minutes)
            ),
            Said::ProlongedReviewed {
                start_min,
                minutes,
                depth_bpm,
                hindsight,
            } => {
                let told = format!(
                    "prolonged deceleration from {:.1} min, told while under way ({:.1} min, {} \
                     bpm deep, provisional); final analysis: ",
                    tenth(*start_min),
                    tenth(*minutes),
                    depth_bpm.round()
                );
                match hindsight {
                    Hindsight::Confirmed { minutes, depth_bpm } => format!(
                        "{told}prolonged, {:.1} min, {} bpm deep",
                        tenth(*minutes),
                        depth_bpm.round()
                    ),
                    Hindsight::Shorter {
                        kind,
                        minutes,
                        depth_bpm,
                    } => format!(
                        "{told}{}, {:.1} min, {} bpm deep: not prolonged",
                        deceleration_name(kind),
                        tenth(*minutes),
                        depth_bpm.round()
                    ),
                    Hindsight::None => format!(
                        "{told}no deceleration there (against the baseline known afterwards)"
                    ),
                }
            }
            Said::Tachysystole { count } => {
                format!("{count} contractions in 30 min (more than 5 per 10 min)")
            }
            Said::Bradycardia { bpm, limit_bpm } => {
                format!("baseline {} bpm (below {})", bpm.round(), limit_bpm.round())
            }
            Said::SignalLoss { seconds } => format!("no fetal heart rate for {seconds} s"),
            Said::StreamStalled { seconds } => format!("no data for {seconds} s"),
            Said::StalledInDeceleration {
                seconds,
                start_min,
                minutes,
                depth_bpm,
            } => format!(
                "no data for {seconds} s, and a deceleration was under way when it stopped \
                 (since {:.1} min: {:.1} min, {} bpm deep): what followed is not known, check \
                 at the bedside",
                tenth(*start_min),
                tenth(*minutes),
                depth_bpm.round()
            ),
            Said::BridgeOffline { bridge, seconds } => {
                format!("bridge {bridge} offline for {seconds} s")
            }
            Said::BridgeClock { bridge, seconds } => format!(
                "bridge {bridge}'s clock is {} s {} the hub's: its trace times are off by as much (check its time synchronisation, NTP)",
                seconds.abs(),
                if *seconds > 0 { "ahead of" } else { "behind" }
            ),
            Said::SpoolFilling {
                percent,
                used_mib,
                cap_mib,
            } => format!(
                "spool {percent} % full ({used_mib} of {cap_mib} MiB): the hub is not acknowledging this bridge's data"
            ),
            Said::ChannelFailing { channel } => format!("alerts cannot be delivered by {channel}"),
            Said::HubDown { minutes } => format!(
                "the hub was not running for {minutes} min: nothing was watched then, and \
                 alerts for that time come late, as the bridges' data arrive"
            ),
            Said::MonitorCoincidence { from_min } => format!(
                "the monitor reports coincidence (its cross-channel verification) from {:.1} min: a fetal channel may be recording the mother's heart or the other twin's",
                tenth(*from_min)
            ),
            Said::CrossChannel { channels, from_min } => format!(
                "{channels} coincide from {:.1} min: possibly one heart on both transducers (check that each records its own twin)",
                tenth(*from_min)
            ),
            Said::Words(words) => words.clone(),
        }
    }

    /// As facts for a viewer.
    pub fn facts(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Said::JsogWindow {
                level,
                from_min,
                to_min,
                table,
                inputs,
            } => {
                let mut facts = json!({"text": "jsog_window", "level": level,
                                       "from_min": from_min.round(), "to_min": to_min.round(),
                                       "table": table});
                if let Some([baseline, variability, deceleration]) = inputs {
                    facts["text"] = json!("jsog_window_inputs");
                    facts["baseline"] = json!(baseline);
                    facts["variability"] = json!(variability);
                    facts["deceleration"] = json!(deceleration);
                }
                facts
            }
            Said::ProlongedUnderWay {
                start_min,
                minutes,
                depth_bpm,
            } => deceleration_facts("prolonged_under_way", *start_min, *minutes, *depth_bpm),
            Said::ProlongedEnded {
                start_min,
                minutes,
                depth_bpm,
            } => deceleration_facts("prolonged_ended", *start_min, *minutes, *depth_bpm),
            Said::ProlongedFinal {
                start_min,
                minutes,
                depth_bpm,
            } => deceleration_facts("prolonged_final", *start_min, *minutes, *depth_bpm),
            Said::ProlongedReviewed {
                start_min,
                minutes,
                depth_bpm,
                hindsight,
            } => {
                let mut facts = deceleration_facts("", *start_min, *minutes, *depth_bpm);
                match hindsight {
                    Hindsight::Confirmed { minutes, depth_bpm } => {
                        facts["text"] = json!("prolonged_confirmed");
                        facts["final_minutes"] = json!(tenth(*minutes));
                        facts["final_depth_bpm"] = json!(depth_bpm.round());
                    }
                    Hindsight::Shorter {
                        kind,
                        minutes,
                        depth_bpm,
                    } => {
                        facts["text"] = json!("prolonged_shorter");
                        facts["final_type"] = json!(kind);
                        facts["final_minutes"] = json!(tenth(*minutes));
                        facts["final_depth_bpm"] = json!(depth_bpm.round());
                    }
                    Hindsight::None => facts["text"] = json!("prolonged_none"),
                }
                facts
            }
            Said::Tachysystole { count } => json!({"text": "tachysystole", "count": count}),
            Said::Bradycardia { bpm, limit_bpm } => {
                json!({"text": "bradycardia", "bpm": bpm.round(), "limit_bpm": limit_bpm.round()})
            }
            Said::SignalLoss { seconds } => json!({"text": "signal_loss", "seconds": seconds}),
            Said::StreamStalled { seconds } => {
                json!({"text": "stream_stalled", "seconds": seconds})
            }
            Said::StalledInDeceleration {
                seconds,
                start_min,
                minutes,
                depth_bpm,
            } => {
                let mut facts =
                    deceleration_facts("stalled_in_deceleration", *start_min, *minutes, *depth_bpm);
                facts["seconds"] = json!(seconds);
                facts
            }
            Said::BridgeOffline { bridge, seconds } => {
                json!({"text": "bridge_offline", "bridge": bridge, "seconds": seconds})
            }
            Said::BridgeClock { bridge, seconds } => json!({
                "text": if *seconds > 0 { "bridge_clock_ahead" } else { "bridge_clock_behind" },
                "bridge": bridge, "seconds": seconds.abs()
            }),
            Said::SpoolFilling {
                percent,
                used_mib,
                cap_mib,
            } => json!({"text": "spool_filling", "percent": percent, "used_mib": used_mib,
                        "cap_mib": cap_mib}),
            Said::ChannelFailing { channel } => {
                json!({"text": "channel_failing", "channel": channel})
            }
            Said::CrossChannel { channels, from_min } => {
                json!({"text": "cross_channel", "channels": channels, "start_min": tenth(*from_min)})
            }
            Said::MonitorCoincidence { from_min } => {
                json!({"text": "monitor_coincidence", "start_min": tenth(*from_min)})
            }
            Said::HubDown { minutes } => json!({"text": "hub_down", "down_min": minutes}),
            Said::Words(_) => serde_json::Value::Null,
        }
    }
}

/// The engine.
#[derive(Debug, Default)]
pub struct AlertEngine {
    rules: AlertRules,
    alerts: Vec<Alert>,
    active: HashMap<(Subject, String), usize>,
    next_id: u64,
    loss_since: HashMap<i64, i64>,
    last_block: HashMap<i64, (i64, String)>,
    bridges_down: HashMap<(String, String), i64>,
    bridges_up: HashMap<(String, String), u32>,
    /// When the hub last reported trouble.
    hub_trouble_at: Option<i64>,
    /// Per stream, the onsets of its recent contractions (stream seconds).
    contractions: HashMap<i64, std::collections::VecDeque<f64>>,
    /// Per stream and fetus, the decelerations whose prolonged alert was raised while under
    /// way; the last few.
    under_way: HashMap<(i64, Option<String>), std::collections::VecDeque<ToldUnderWay>>,
    /// The streams whose fetuses are analysed separately (twins) since a finding said so.
    separate: std::collections::HashSet<i64>,
    /// Per stream and fetus, the deceleration under way last told and not yet over, with
    /// when it was told (ms): a stream that stalls soon after is stalled in a deceleration.
    under_way_now: HashMap<(i64, Option<String>), (i64, UnderWayNow)>,
    /// Per bridge, its clock against the hub's from its last few heartbeats, ms.
    clocks: HashMap<(String, String), std::collections::VecDeque<i64>>,
}

/// Heartbeats a bridge's clock is judged over (5 s apart: about a minute).
const CLOCK_SAMPLES: usize = 12;

/// A deceleration under way as last told: start (stream seconds), seconds so far, depth (bpm).
#[derive(Debug, Clone, Copy)]
struct UnderWayNow {
    start_s: f64,
    duration_s: f64,
    depth_bpm: f64,
}

/// A deceleration under way is told every 15 s while it lasts: one told within this long
/// before a stream's last block was still under way when the stream stopped.
pub const UNDER_WAY_FRESH_MS: i64 = 40_000;

/// A deceleration whose prolonged alert was raised while under way.
#[derive(Debug, Clone)]
struct ToldUnderWay {
    /// Its alert's key (the start in tenths of a second, [`AlertKind::ProlongedDeceleration`]).
    start_ds: u64,
    /// Start and end so far, stream seconds.
    start_s: f64,
    end_s: f64,
    /// Its deepest, bpm.
    depth_bpm: f64,
    /// The longest final deceleration overlapping it so far: (type, duration s, depth bpm).
    final_seen: Option<(String, f64, f64)>,
    /// Whether its alert has been updated with the final analysis.
    reviewed: bool,
}

/// Decelerations under way remembered per stream (to recognise their final findings).
const UNDER_WAY_KEPT: usize = 8;

/// A hub that was not running this long says so when it starts ([`AlertEngine::on_hub_started`]):
/// a restart for an update takes well under it.
pub const HUB_DOWN_TOLD_MS: i64 = 60_000;

/// Alerts kept in memory (resolved ones beyond this are forgotten oldest first).
const KEEP: usize = 10_000;

impl AlertEngine {
    /// An engine with these rules.
    pub fn new(rules: AlertRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// New alerts take IDs above `last_id` (a hub that restarts continues after the IDs it
    /// used before, so an ID names one alert in the stored dispatch log and the audit log).
    pub fn continue_after(&mut self, last_id: u64) {
        self.next_id = self.next_id.max(last_id);
    }

    /// Takes up the alerts a hub held before it restarted (as stored, any order), at `now_ms`:
    /// - every alert someone still has to deal with ([`Alert::needs_attention`]: its condition
    ///   not over, or not acknowledged) is held again under its ID, and one whose condition is
    ///   not over is active again, so the condition found again updates or resolves it instead
    ///   of raising a second alert; hub trouble restored as active resolves after a quiet
    ///   minute from `now_ms`, as if seen then;
    /// - every prolonged-deceleration alert given (held again or not) is remembered as told,
    ///   so the analysis going over the same deceleration again after the restart (it resumes
    ///   a window or two back) neither raises it a second time nor, once acknowledged, calls
    ///   anyone again; an alert told while under way and not yet worded with the final
    ///   analysis still is, when the window after it is classified.
    ///
    /// New alerts take IDs above every ID given.
    pub fn restore(&mut self, mut stored: Vec<Alert>, now_ms: i64) {
        stored.sort_by_key(|a| a.id);
        stored.dedup_by_key(|a| a.id);
        let held: std::collections::HashSet<u64> = self.alerts.iter().map(|a| a.id).collect();
        for alert in stored {
            self.next_id = self.next_id.max(alert.id);
            if let (
                AlertKind::ProlongedDeceleration { start_ds },
                Subject::Stream { id, fetus, .. },
            ) = (&alert.kind, &alert.subject)
            {
                let start_s = *start_ds as f64 / 10.0;
                let minutes = alert.facts["minutes"].as_f64().unwrap_or(0.0);
                let text = alert.facts["text"].as_str().unwrap_or("");
                let remembered = self.under_way.entry((*id, fetus.clone())).or_default();
                remembered.push_back(ToldUnderWay {
                    start_ds: *start_ds,
                    start_s,
                    end_s: start_s + minutes * 60.0,
                    depth_bpm: alert.facts["depth_bpm"].as_f64().unwrap_or(0.0),
                    final_seen: None,
                    // Raised from the final analysis, or already worded with it.
                    reviewed: !matches!(text, "prolonged_under_way" | "prolonged_ended"),
                });
                if remembered.len() > UNDER_WAY_KEPT {
                    remembered.pop_front();
                }
            }
            if !alert.needs_attention() || held.contains(&alert.id) {
                continue;
            }
            if alert.resolved_ms.is_none() {
                if alert.kind == AlertKind::HubOverloaded {
                    self.hub_trouble_at = Some(now_ms);
                }
                self.active
                    .insert((alert.subject.clone(), alert.kind.key()), self.alerts.len());
            }
            self.alerts.push(alert);
        }
    }

    /// What it watches for going quiet at `now_ms` (the stalled streams and offline bridges
    /// already told are not in it: their alerts are taken up by [`AlertEngine::restore`]).
    pub fn watched(&self, now_ms: i64) -> Watched {
        let mut watched = Watched {
            streams: self
                .last_block
                .iter()
                .filter(|(_, (at, _))| now_ms - at < self.rules.stalled_ms)
                .map(|(id, (_, facility))| (*id, facility.clone()))
                .collect(),
            bridges: self
                .bridges_up
                .iter()
                .filter(|(_, count)| **count > 0)
                .map(|(key, _)| key.clone())
                .collect(),
            bridges_gone: self
                .bridges_down
                .iter()
                .filter(|(_, since)| now_ms - **since < self.rules.bridge_offline_ms)
                .map(|((bridge, facility), since)| (bridge.clone(), facility.clone(), *since))
                .collect(),
        };
        watched.streams.sort();
        watched.bridges.sort();
        watched.bridges_gone.sort();
        watched
    }

    /// Goes on watching, after a restart at `now_ms`, what the engine before it watched: each
    /// stream and bridge is taken as last heard of at the end of the grace
    /// ([`AlertRules::restart_grace_ms`]), so one that has not come back by then plus the
    /// stall or offline delay is told; a bridge already gone keeps the time it went.
    pub fn watch_after_restart(&mut self, watched: Watched, now_ms: i64) {
        let heard = now_ms + self.rules.restart_grace_ms;
        for (stream, facility) in watched.streams {
            self.last_block.entry(stream).or_insert((heard, facility));
        }
        for key in watched.bridges {
            if self.bridges_up.get(&key).is_none_or(|&count| count == 0) {
                self.bridges_down.entry(key).or_insert(heard);
            }
        }
        for (bridge, facility, since) in watched.bridges_gone {
            let key = (bridge, facility);
            if self.bridges_up.get(&key).is_none_or(|&count| count == 0) {
                self.bridges_down.entry(key).or_insert(since);
            }
        }
    }

    /// The monitoring of a stream has ended (someone said so: the labour over, the woman
    /// moved): it is no longer watched for stalls or signal loss, what was counted of it is
    /// forgotten, and the alerts of its conditions resolve (a prolonged deceleration's stays
    /// open until acknowledged, as it would). A block from it later watches it again
    /// ([`AlertEngine::on_samples`]).
    pub fn on_stream_ended(&mut self, stream: i64, now_ms: i64) -> Vec<Alert> {
        self.last_block.remove(&stream);
        self.loss_since.remove(&stream);
        self.contractions.remove(&stream);
        self.separate.remove(&stream);
        self.under_way_now.retain(|(id, _), _| *id != stream);
        let ending: Vec<(Subject, String)> = self
            .active
            .keys()
            .filter(|(subject, key)| {
                matches!(subject, Subject::Stream { id, .. } if *id == stream)
                    && !key.starts_with("prolonged-")
            })
            .cloned()
            .collect();
        let mut changes: Vec<Alert> = ending
            .into_iter()
            .filter_map(|(subject, key)| self.resolve(&subject, &key, now_ms))
            .collect();
        changes.sort_by_key(|a| a.id);
        changes
    }

    /// Every alert, oldest first.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    fn raise(
        &mut self,
        subject: Subject,
        kind: AlertKind,
        said: Said,
        now_ms: i64,
    ) -> Option<Alert> {
        let (detail, facts) = (said.english(), said.facts());
        let key = (subject.clone(), kind.key());
        if let Some(&i) = self.active.get(&key) {
            let alert = &mut self.alerts[i];
            if alert.kind != kind {
                // Same condition, worse: update in place (a higher JSOG level).
                alert.kind = kind;
                alert.detail = detail;
                alert.facts = facts;
                return Some(alert.clone());
            }
            return None;
        }
        if self.alerts.len() >= KEEP
            && let Some(oldest) = self.alerts.iter().position(|a| a.resolved_ms.is_some())
        {
            self.alerts.remove(oldest);
            for index in self.active.values_mut() {
                if *index > oldest {
                    *index -= 1;
                }
            }
        }
        self.next_id += 1;
        let alert = Alert {
            id: self.next_id,
            kind,
            subject,
            raised_ms: now_ms,
            detail,
            facts,
            acknowledged: None,
            resolved_ms: None,
        };
        self.active.insert(key, self.alerts.len());
        self.alerts.push(alert.clone());
        Some(alert)
    }

    /// Words the open alert of a deceleration told while under way with what the final
    /// analysis made of it (an acknowledged one keeps what was acknowledged).
    fn review(&mut self, subject: &Subject, told: &ToldUnderWay) -> Option<Alert> {
        let key = AlertKind::ProlongedDeceleration {
            start_ds: told.start_ds,
        }
        .key();
        let &i = self.active.get(&(subject.clone(), key))?;
        let hindsight = match &told.final_seen {
            Some((kind, duration_s, depth_bpm)) if kind == "prolonged" => Hindsight::Confirmed {
                minutes: duration_s / 60.0,
                depth_bpm: *depth_bpm,
            },
            Some((kind, duration_s, depth_bpm)) => Hindsight::Shorter {
                kind: kind.clone(),
                minutes: duration_s / 60.0,
                depth_bpm: *depth_bpm,
            },
            None => Hindsight::None,
        };
        let said = Said::ProlongedReviewed {
            start_min: told.start_s / 60.0,
            minutes: (told.end_s - told.start_s) / 60.0,
            depth_bpm: told.depth_bpm,
            hindsight,
        };
        let alert = &mut self.alerts[i];
        alert.detail = said.english();
        alert.facts = said.facts();
        Some(alert.clone())
    }

    fn resolve(&mut self, subject: &Subject, key: &str, now_ms: i64) -> Option<Alert> {
        let i = self.active.remove(&(subject.clone(), key.to_owned()))?;
        let alert = &mut self.alerts[i];
        alert.resolved_ms = Some(now_ms);
        Some(alert.clone())
    }

    /// The contractions of `stream` told before a restart (their onsets, stream seconds, oldest
    /// first), so that its 30-minute tachysystole count goes on across the restart instead of
    /// starting again from none (an open tachysystole alert would resolve at the next
    /// contraction, and one about to be raised would wait up to 30 minutes).
    pub fn recall_contractions(&mut self, stream: i64, onsets: impl IntoIterator<Item = f64>) {
        let held = self.contractions.entry(stream).or_default();
        for onset in onsets {
            if held.back().is_none_or(|&last| onset > last) {
                held.push_back(onset);
            }
        }
    }

    /// A finding (the JSON of `ctg_dsp::json::finding`) of a stream.
    pub fn on_finding(
        &mut self,
        stream: i64,
        facility: &str,
        finding: &serde_json::Value,
        now_ms: i64,
    ) -> Vec<Alert> {
        // Twins: each fetus's findings carry their channel, and are alerts of their own.
        let fetus = finding["fetal_channel"].as_str().map(str::to_owned);
        let told_key = (stream, fetus.clone());
        let mut changes = Vec::new();
        if fetus.is_some() && self.separate.insert(stream) {
            // The stream's one-fetus analysis has given way to one per fetus: its level and
            // bradycardia alerts are over (each fetus's own follow, under its own subject).
            let whole = Subject::Stream {
                id: stream,
                facility: facility.to_owned(),
                fetus: None,
            };
            for key in ["jsog", "bradycardia"] {
                changes.extend(self.resolve(&whole, key, now_ms));
            }
        }
        let subject = Subject::Stream {
            id: stream,
            facility: facility.to_owned(),
            fetus,
        };
        if finding["kind"] == "classification" {
            // Every final deceleration starting before a classified window's end has been
            // given before it: what a told deceleration ending there became is known.
            let window_end = finding["end_s"].as_f64().unwrap_or(0.0);
            let mut due = Vec::new();
            for told in self
                .under_way
                .entry(told_key.clone())
                .or_default()
                .iter_mut()
            {
                if !told.reviewed && told.end_s <= window_end {
                    told.reviewed = true;
                    due.push(told.clone());
                }
            }
            for told in due {
                changes.extend(self.review(&subject, &told));
            }
        }
        match finding["kind"].as_str() {
            Some("classification") => {
                let level = finding["jsog_level"].as_u64().unwrap_or(0) as u8;
                if level >= self.rules.jsog_level {
                    let higher = self.highest_so_far(&subject, "jsog", level);
                    let detail = Said::JsogWindow {
                        level,
                        from_min: finding["start_s"].as_f64().unwrap_or(0.0) / 60.0,
                        to_min: finding["end_s"].as_f64().unwrap_or(0.0) / 60.0,
                        table: finding["table_version"].as_str().unwrap_or("?").to_owned(),
                        inputs: ["baseline", "variability", "deceleration"]
                            .map(|k| finding["evidence"][k].as_str().map(str::to_owned))
                            .into_iter()
                            .collect::<Option<Vec<String>>>()
                            .and_then(|v| v.try_into().ok()),
                    };
                    changes.extend(self.raise(
                        subject,
                        AlertKind::JsogLevel { level: higher },
                        detail,
                        now_ms,
                    ));
                } else {
                    changes.extend(self.resolve(&subject, "jsog", now_ms));
                }
            }
            Some("deceleration_under_way") => {
                let (Some(start_s), Some(duration_s)) =
                    (finding["start_s"].as_f64(), finding["duration_s"].as_f64())
                else {
                    return changes;
                };
                // The message that it is over carries what it last measured: one that passed
                // the limit between two messages is told then.
                let ended = finding["ended"].as_bool().unwrap_or(false);
                let depth_bpm = finding["depth_bpm"].as_f64().unwrap_or(0.0);
                if ended {
                    self.under_way_now.remove(&told_key);
                } else {
                    let now = UnderWayNow {
                        start_s,
                        duration_s,
                        depth_bpm,
                    };
                    self.under_way_now.insert(told_key.clone(), (now_ms, now));
                }
                let remembered = self.under_way.entry(told_key.clone()).or_default();
                // The same deceleration: the same start (one remembered from before a restart
                // has it to a tenth of a second, from its alert's key).
                if let Some(known) = remembered
                    .iter_mut()
                    .find(|k| (k.start_s - start_s).abs() < 0.1)
                {
                    known.end_s = known.end_s.max(start_s + duration_s);
                    known.depth_bpm = known.depth_bpm.max(depth_bpm);
                } else if duration_s >= self.rules.prolonged_under_way_s {
                    remembered.push_back(ToldUnderWay {
                        start_ds: (start_s * 10.0).max(0.0) as u64,
                        start_s,
                        end_s: start_s + duration_s,
                        depth_bpm,
                        final_seen: None,
                        reviewed: false,
                    });
                    if remembered.len() > UNDER_WAY_KEPT {
                        remembered.pop_front();
                    }
                    let (start_min, minutes) = (start_s / 60.0, duration_s / 60.0);
                    let detail = if ended {
                        Said::ProlongedEnded {
                            start_min,
                            minutes,
                            depth_bpm,
                        }
                    } else {
                        Said::ProlongedUnderWay {
                            start_min,
                            minutes,
                            depth_bpm,
                        }
                    };
                    let kind = AlertKind::ProlongedDeceleration {
                        start_ds: (start_s * 10.0).max(0.0) as u64,
                    };
                    changes.extend(self.raise(subject, kind, detail, now_ms));
                }
            }
            Some("deceleration") => {
                let start_s = finding["start_s"].as_f64().unwrap_or(0.0);
                let end_s = finding["end_s"].as_f64().unwrap_or(start_s);
                let kind = finding["type"].as_str().unwrap_or("").to_owned();
                let depth_bpm = finding["depth_bpm"].as_f64().unwrap_or(0.0);
                // What it says of decelerations told while under way that it overlaps: a
                // prolonged one confirms them now; a shorter one is kept until the window
                // after them is classified (another final one may still be prolonged).
                let mut told_under_way = false;
                let mut confirmed = Vec::new();
                for told in self
                    .under_way
                    .entry(told_key.clone())
                    .or_default()
                    .iter_mut()
                {
                    if told.start_s < end_s && told.end_s > start_s {
                        told_under_way = true;
                        let longer = told
                            .final_seen
                            .as_ref()
                            .is_none_or(|(k, d, _)| k != "prolonged" && end_s - start_s > *d);
                        if kind == "prolonged" || longer {
                            told.final_seen = Some((kind.clone(), end_s - start_s, depth_bpm));
                        }
                        if kind == "prolonged" && !told.reviewed {
                            told.reviewed = true;
                            confirmed.push(told.clone());
                        }
                    }
                }
                for told in confirmed {
                    changes.extend(self.review(&subject, &told));
                }
                if kind != "prolonged" || told_under_way {
                    // Not prolonged, or the same deceleration already told while it lasted.
                    return changes;
                }
                let detail = Said::ProlongedFinal {
                    start_min: start_s / 60.0,
                    minutes: (end_s - start_s) / 60.0,
                    depth_bpm: finding["depth_bpm"].as_f64().unwrap_or(0.0),
                };
                let kind = AlertKind::ProlongedDeceleration {
                    start_ds: (start_s * 10.0).max(0.0) as u64,
                };
                changes.extend(self.raise(subject, kind, detail, now_ms));
            }
            // The monitor's own verification (`"source": "monitor"`): its own alert.
            Some("cross_channel_under_way") if finding["source"] == "monitor" => {
                let detail = Said::MonitorCoincidence {
                    from_min: finding["start_s"].as_f64().unwrap_or(0.0) / 60.0,
                };
                let kind = AlertKind::MonitorCoincidence;
                changes.extend(self.raise(subject, kind, detail, now_ms));
            }
            Some("cross_channel") if finding["source"] == "monitor" => {
                changes.extend(self.resolve(&subject, "monitor-coincidence", now_ms));
            }
            Some("cross_channel_under_way") => {
                let channels = finding["channels"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| c.as_str())
                            .map(str::to_uppercase)
                            .collect::<Vec<_>>()
                            .join(" = ")
                    })
                    .unwrap_or_default();
                let detail = Said::CrossChannel {
                    channels,
                    from_min: finding["start_s"].as_f64().unwrap_or(0.0) / 60.0,
                };
                changes.extend(self.raise(subject, AlertKind::CrossChannel, detail, now_ms));
            }
            Some("cross_channel") => {
                changes.extend(self.resolve(&subject, "cross-channel", now_ms));
            }
            Some("contraction") => {
                // Tachysystole: > 5 per 10 min averaged over 30 min, i.e. > 15 onsets in the
                // 30 minutes up to this one (FIGO 2015; NICHD 2008).
                let onset = finding["start_s"].as_f64().unwrap_or(0.0);
                let onsets = self.contractions.entry(stream).or_default();
                onsets.push_back(onset);
                while onsets.front().is_some_and(|&t| t <= onset - 1800.0) {
                    onsets.pop_front();
                }
                let count = onsets.len();
                if count > 15 {
                    let detail = Said::Tachysystole { count };
                    changes.extend(self.raise(subject, AlertKind::Tachysystole, detail, now_ms));
                } else if count <= 12 {
                    // Hysteresis: resolved only well below the threshold.
                    changes.extend(self.resolve(&subject, "tachysystole", now_ms));
                }
            }
            Some("baseline") => match finding["bpm"].as_f64() {
                Some(bpm) if bpm < self.rules.bradycardia_bpm => {
                    let detail = Said::Bradycardia {
                        bpm,
                        limit_bpm: self.rules.bradycardia_bpm,
                    };
                    changes.extend(self.raise(subject, AlertKind::Bradycardia, detail, now_ms));
                }
                Some(_) => changes.extend(self.resolve(&subject, "bradycardia", now_ms)),
                None => {}
            },
            _ => {}
        }
        changes
    }

    /// Samples of a stream arrived: `fetal_signal` says whether any carried an FHR.
    pub fn on_samples(
        &mut self,
        stream: i64,
        facility: &str,
        fetal_signal: bool,
        now_ms: i64,
    ) -> Vec<Alert> {
        let subject = Subject::Stream {
            id: stream,
            facility: facility.to_owned(),
            fetus: None,
        };
        let mut changes = Vec::new();
        self.last_block
            .insert(stream, (now_ms, facility.to_owned()));
        changes.extend(self.resolve(&subject, "stalled", now_ms));
        if fetal_signal {
            self.loss_since.remove(&stream);
            changes.extend(self.resolve(&subject, "signal-loss", now_ms));
        } else {
            let since = *self.loss_since.entry(stream).or_insert(now_ms);
            if now_ms - since >= self.rules.signal_loss_ms {
                let detail = Said::SignalLoss {
                    seconds: (now_ms - since) / 1000,
                };
                changes.extend(self.raise(subject, AlertKind::SignalLoss, detail, now_ms));
            }
        }
        changes
    }

    /// A connection of a bridge opened or closed (a bridge is down when its last one closed:
    /// a reconnect may open the new connection before the old one is noticed gone).
    pub fn on_bridge(
        &mut self,
        bridge: &str,
        facility: &str,
        connected: bool,
        now_ms: i64,
    ) -> Vec<Alert> {
        let key = (bridge.to_owned(), facility.to_owned());
        let count = self.bridges_up.entry(key.clone()).or_default();
        if connected {
            *count += 1;
            self.bridges_down.remove(&key);
            let subject = Subject::Bridge {
                name: bridge.to_owned(),
                facility: facility.to_owned(),
            };
            self.resolve(&subject, "bridge-offline", now_ms)
                .into_iter()
                .collect()
        } else {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.bridges_down.entry(key).or_insert(now_ms);
            }
            Vec::new()
        }
    }

    /// The clock moved: stalled streams and offline bridges.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Alert> {
        let mut changes = Vec::new();
        let stalled: Vec<(i64, i64, String)> = self
            .last_block
            .iter()
            .filter(|(_, (at, _))| now_ms - at >= self.rules.stalled_ms)
            .map(|(id, (at, facility))| (*id, *at, facility.clone()))
            .collect();
        for (id, at, facility) in stalled {
            let seconds = (now_ms - at) / 1000;
            // The longest of its fetuses' decelerations under way when it stopped.
            let in_deceleration = self
                .under_way_now
                .iter()
                .filter(|((stream, _), (told_ms, _))| {
                    *stream == id && at - told_ms <= UNDER_WAY_FRESH_MS
                })
                .map(|(_, (_, u))| *u)
                .max_by(|a, b| a.duration_s.total_cmp(&b.duration_s));
            let (kind, detail) = match in_deceleration {
                Some(u) => (
                    AlertKind::StalledInDeceleration,
                    Said::StalledInDeceleration {
                        seconds,
                        start_min: u.start_s / 60.0,
                        minutes: u.duration_s / 60.0,
                        depth_bpm: u.depth_bpm,
                    },
                ),
                None => (AlertKind::StreamStalled, Said::StreamStalled { seconds }),
            };
            changes.extend(self.raise(
                Subject::Stream {
                    id,
                    facility,
                    fetus: None,
                },
                kind,
                detail,
                now_ms,
            ));
        }
        let down: Vec<((String, String), i64)> = self
            .bridges_down
            .iter()
            .filter(|(_, since)| now_ms - **since >= self.rules.bridge_offline_ms)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((name, facility), since) in down {
            let detail = Said::BridgeOffline {
                bridge: name.clone(),
                seconds: (now_ms - since) / 1000,
            };
            changes.extend(self.raise(
                Subject::Bridge { name, facility },
                AlertKind::BridgeOffline,
                detail,
                now_ms,
            ));
        }
        changes
    }

    /// `value`, or the higher one an active alert of `key` on `subject` already carries (a JSOG
    /// level, a spool percentage): an alert shows the worst seen while it lasts.
    fn highest_so_far(&self, subject: &Subject, key: &str, value: u8) -> u8 {
        self.active
            .get(&(subject.clone(), key.to_owned()))
            .map(|&i| match self.alerts[i].kind {
                AlertKind::JsogLevel { level: was } | AlertKind::SpoolFilling { percent: was } => {
                    value.max(was)
                }
                _ => value,
            })
            .unwrap_or(value)
    }

    /// A bridge reported its spool: raised at 80 % of the cap (the bridge drops the oldest data
    /// at 100 %), resolved below 70 %.
    pub fn on_spool(
        &mut self,
        bridge: &str,
        facility: &str,
        bytes: u64,
        max_bytes: u64,
        now_ms: i64,
    ) -> Vec<Alert> {
        let subject = Subject::Bridge {
            name: bridge.to_owned(),
            facility: facility.to_owned(),
        };
        let percent = (bytes.saturating_mul(100) / max_bytes.max(1)).min(100) as u8;
        if percent >= 80 {
            let higher = self.highest_so_far(&subject, "spool", percent);
            let detail = Said::SpoolFilling {
                percent,
                used_mib: bytes / (1 << 20),
                cap_mib: max_bytes / (1 << 20),
            };
            self.raise(
                subject,
                AlertKind::SpoolFilling { percent: higher },
                detail,
                now_ms,
            )
            .into_iter()
            .collect()
        } else if percent < 70 {
            self.resolve(&subject, "spool", now_ms)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        }
    }

    /// A bridge's heartbeat: its UTC clock when it sent it, `bridge_utc_ms`, received at the
    /// hub's `now_ms`. The offset is the largest of the last [`CLOCK_SAMPLES`] differences (the
    /// network's delay only makes a difference smaller, so the largest is the nearest);
    /// raised at [`AlertRules::clock_offset_ms`] either way, resolved under half of it.
    pub fn on_bridge_clock(
        &mut self,
        bridge: &str,
        facility: &str,
        bridge_utc_ms: i64,
        now_ms: i64,
    ) -> Vec<Alert> {
        let samples = self
            .clocks
            .entry((bridge.to_owned(), facility.to_owned()))
            .or_default();
        samples.push_back(bridge_utc_ms.saturating_sub(now_ms));
        if samples.len() > CLOCK_SAMPLES {
            samples.pop_front();
        }
        let offset = samples.iter().copied().max().unwrap_or(0);
        let subject = Subject::Bridge {
            name: bridge.to_owned(),
            facility: facility.to_owned(),
        };
        if offset.abs() >= self.rules.clock_offset_ms {
            let detail = Said::BridgeClock {
                bridge: bridge.to_owned(),
                seconds: (offset + 500).div_euclid(1000),
            };
            self.raise(subject, AlertKind::BridgeClock, detail, now_ms)
                .into_iter()
                .collect()
        } else if offset.abs() < self.rules.clock_offset_ms / 2 {
            self.resolve(&subject, "bridge-clock", now_ms)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        }
    }

    /// One bridge's clock against the hub's (ms, positive: ahead), as last judged.
    pub fn bridge_clock(&self, bridge: &str, facility: &str) -> Option<i64> {
        self.clocks
            .get(&(bridge.to_owned(), facility.to_owned()))?
            .iter()
            .copied()
            .max()
    }

    /// Each bridge's clock against the hub's (ms, positive: ahead), as last judged.
    pub fn bridge_clocks(&self) -> Vec<(String, String, i64)> {
        let mut out: Vec<(String, String, i64)> = self
            .clocks
            .iter()
            .filter_map(|((bridge, facility), samples)| {
                Some((bridge.clone(), facility.clone(), *samples.iter().max()?))
            })
            .collect();
        out.sort();
        out
    }

    /// The hub's own health, once a second: `trouble` says what is wrong now (None: nothing).
    /// Raised at the first trouble, resolved after a minute without any.
    pub fn on_hub_health(
        &mut self,
        centre: &str,
        trouble: Option<String>,
        now_ms: i64,
    ) -> Vec<Alert> {
        let subject = Subject::Bridge {
            name: "hub".into(),
            facility: centre.to_owned(),
        };
        match trouble {
            Some(detail) => {
                self.hub_trouble_at = Some(now_ms);
                self.raise(
                    subject,
                    AlertKind::HubOverloaded,
                    Said::Words(detail),
                    now_ms,
                )
                .into_iter()
                .collect()
            }
            None if self.hub_trouble_at.is_some_and(|t| now_ms - t >= 60_000) => {
                self.hub_trouble_at = None;
                self.resolve(&subject, "hub-overloaded", now_ms)
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        }
    }

    /// The hub starts after not running for `down_ms` (from what it last kept to now): an
    /// alert for the centre from [`HUB_DOWN_TOLD_MS`] on, open until someone acknowledges it
    /// (nothing was watched meanwhile; what the bridges recorded then is analysed late).
    pub fn on_hub_started(&mut self, centre: &str, down_ms: i64, now_ms: i64) -> Vec<Alert> {
        if down_ms < HUB_DOWN_TOLD_MS {
            return Vec::new();
        }
        let subject = Subject::Bridge {
            name: "hub".into(),
            facility: centre.to_owned(),
        };
        let said = Said::HubDown {
            minutes: ((down_ms + 30_000) / 60_000).max(1),
        };
        // One per start: an earlier one still open is another outage.
        self.active
            .remove(&(subject.clone(), AlertKind::HubDown.key()));
        self.raise(subject, AlertKind::HubDown, said, now_ms)
            .into_iter()
            .collect()
    }

    /// A delivery channel keeps failing (from the dispatcher): a technical alert for the
    /// facility whose alert could not be delivered.
    pub fn on_channel_failing(&mut self, facility: &str, channel: &str, now_ms: i64) -> Vec<Alert> {
        let subject = Subject::Bridge {
            name: format!("delivery: {channel}"),
            facility: facility.to_owned(),
        };
        let detail = Said::ChannelFailing {
            channel: channel.to_owned(),
        };
        self.raise(
            subject,
            AlertKind::ChannelFailing {
                channel: channel.to_owned(),
            },
            detail,
            now_ms,
        )
        .into_iter()
        .collect()
    }

    /// Acknowledges an alert; prolonged-deceleration alerts resolve with it.
    pub fn acknowledge(&mut self, id: u64, by: &str, reason: &str, now_ms: i64) -> Option<Alert> {
        let i = self.alerts.iter().position(|a| a.id == id)?;
        let alert = &mut self.alerts[i];
        if alert.acknowledged.is_none() {
            alert.acknowledged = Some(Acknowledgement {
                by: by.to_owned(),
                at_ms: now_ms,
                reason: reason.chars().take(500).collect(),
            });
        }
        if matches!(
            alert.kind,
            AlertKind::ProlongedDeceleration { .. } | AlertKind::HubDown
        ) && alert.resolved_ms.is_none()
        {
            alert.resolved_ms = Some(now_ms);
            let key = (alert.subject.clone(), alert.kind.key());
            self.active.remove(&key);
        }
        Some(self.alerts[i].clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn engine() -> AlertEngine {
        AlertEngine::new(AlertRules::default())
    }

    /// A hub that restarts takes up the alerts it held (as stored, round-tripped through JSON):
    /// the ones someone still has to deal with are held again under their IDs, the same
    /// conditions found again update or resolve them instead of raising new ones, the
    /// prolonged decelerations told before are not told again, and new alerts take new IDs.
    #[test]
    fn alerts_taken_up_after_a_restart_go_on_as_before() {
        let mut before = engine();
        let level = |level: u8, start_s: f64| json!({"kind": "classification", "jsog_level": level, "start_s": start_s, "end_s": start_s + 600.0, "table_version": "t"});
        let under_way = |start_s: f64, duration_s: f64| {
            json!({"kind": "deceleration_under_way", "start_s": start_s, "depth_bpm": 50.0,
                   "duration_s": duration_s})
        };
        let jsog = before.on_finding(1, "a", &level(4, 0.0), 1_000)[0].clone();
        // Told while under way, not yet acknowledged nor worded with the final analysis.
        let open_decel = before.on_finding(2, "a", &under_way(1200.25, 130.0), 2_000)[0].clone();
        // Told and acknowledged (so resolved): settled.
        let acked_decel = before.on_finding(3, "a", &under_way(600.75, 130.0), 3_000)[0].clone();
        before.acknowledge(acked_decel.id, "mw", "O2", 3_500);
        // A stall that ended without anyone acknowledging it: the wall keeps it.
        before.on_samples(4, "a", true, 0);
        let stalled = before.tick(31_000)[0].clone();
        before.on_samples(4, "a", true, 40_000);
        let hub = before.on_hub_health("centre", Some("store behind".into()), 41_000)[0].clone();
        let stored: Vec<Alert> = before
            .alerts()
            .iter()
            .rev()
            .map(|a| serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap())
            .collect();

        let mut after = engine();
        after.restore(stored, 100_000);
        let held: Vec<u64> = after.alerts().iter().map(|a| a.id).collect();
        assert_eq!(
            held,
            vec![jsog.id, open_decel.id, stalled.id, hub.id],
            "the settled one is not held"
        );
        // The same level again: the same alert, not a new one; a level 5 updates it; a level
        // below 3 resolves it.
        assert!(
            after
                .on_finding(1, "a", &level(4, 600.0), 101_000)
                .is_empty()
        );
        let worse = after.on_finding(1, "a", &level(5, 1200.0), 102_000);
        assert_eq!(
            (worse[0].id, worse[0].kind.clone()),
            (jsog.id, AlertKind::JsogLevel { level: 5 })
        );
        assert_eq!(
            after.on_finding(1, "a", &level(1, 1800.0), 103_000)[0].resolved_ms,
            Some(103_000)
        );
        // The analysis going over both decelerations again raises neither a second time.
        assert!(
            after
                .on_finding(2, "a", &under_way(1200.25, 180.0), 104_000)
                .is_empty()
        );
        assert!(
            after
                .on_finding(3, "a", &under_way(600.75, 180.0), 104_000)
                .is_empty()
        );
        let final_one = json!({"kind": "deceleration", "type": "prolonged", "start_s": 598.0,
                               "end_s": 800.0, "depth_bpm": 55.0});
        assert!(after.on_finding(3, "a", &final_one, 105_000).is_empty());
        // The open one is still worded with the final analysis once the window after it is in.
        let final_two = json!({"kind": "deceleration", "type": "variable", "start_s": 1201.0,
                               "end_s": 1290.0, "depth_bpm": 45.0});
        assert!(after.on_finding(2, "a", &final_two, 106_000).is_empty());
        let reviewed = after.on_finding(2, "a", &level(2, 1200.0), 107_000);
        assert!(
            reviewed
                .iter()
                .any(|a| a.id == open_decel.id && a.facts["text"] == "prolonged_shorter"),
            "{reviewed:?}"
        );
        // Hub trouble held again resolves after a quiet minute from the restart.
        assert!(after.on_hub_health("centre", None, 150_000).is_empty());
        assert_eq!(after.on_hub_health("centre", None, 160_000)[0].id, hub.id);
        // The ended stall can still be acknowledged under its ID; new alerts take new IDs.
        assert!(
            after
                .acknowledge(stalled.id, "mw", "checked", 161_000)
                .is_some()
        );
        let new = after.on_finding(5, "a", &level(3, 0.0), 162_000);
        assert!(new[0].id > hub.id, "{} after {}", new[0].id, hub.id);
    }

    /// A stream or bridge the hub was watching that does not come back after a restart is
    /// told as one that stops is, after the grace and the delay; one that comes back is not.
    #[test]
    fn what_was_watched_before_a_restart_is_watched_after_it() {
        let mut before = engine();
        for stream in [1, 2] {
            before.on_samples(stream, "a", true, 10_000);
        }
        before.on_samples(3, "a", true, 0); // stalls at 30 s: told before the restart
        before.tick(31_000);
        for bridge in ["b1", "b2"] {
            before.on_bridge(bridge, "a", true, 0);
        }
        before.on_bridge("b3", "a", true, 0);
        before.on_bridge("b3", "a", false, 20_000); // gone, not yet told
        let watched = before.watched(32_000);
        assert_eq!(watched.streams, vec![(1, "a".into()), (2, "a".into())]);
        assert_eq!(
            watched.bridges,
            vec![("b1".into(), "a".into()), ("b2".into(), "a".into())]
        );
        assert_eq!(
            watched.bridges_gone,
            vec![("b3".into(), "a".into(), 20_000)]
        );
        // Through JSON, as the hub keeps it.
        let watched: Watched =
            serde_json::from_str(&serde_json::to_string(&watched).unwrap()).unwrap();

        let restart = 100_000;
        let mut after = engine();
        after.watch_after_restart(watched, restart);
        // b3 went at 20 s: told at once; stream 2 and bridge b2 come back within the grace.
        let b3 = after.tick(restart);
        assert_eq!(b3.len(), 1, "{b3:?}");
        assert!(matches!(&b3[0].subject, Subject::Bridge { name, .. } if name == "b3"));
        after.on_samples(2, "a", true, restart + 20_000);
        after.on_bridge("b2", "a", true, restart + 20_000);
        let grace = AlertRules::default().restart_grace_ms;
        let stalled_ms = AlertRules::default().stalled_ms;
        after.on_samples(2, "a", true, restart + grace + stalled_ms - 5_000);
        assert!(after.tick(restart + grace + stalled_ms - 1).is_empty());
        let told = after.tick(restart + grace + stalled_ms);
        let about: Vec<String> = told
            .iter()
            .map(|a| match &a.subject {
                Subject::Stream { id, .. } => format!("stream {id} {:?}", a.kind),
                Subject::Bridge { name, .. } => format!("bridge {name} {:?}", a.kind),
            })
            .collect();
        assert_eq!(about, ["stream 1 StreamStalled", "bridge b1 BridgeOffline"]);
    }

    /// Ending a stream's monitoring resolves the alerts of its conditions (not a prolonged
    /// deceleration's, which waits for someone to acknowledge it), stops watching it for a
    /// stall, and leaves other streams alone; a block from it later watches it again.
    #[test]
    fn ending_a_streams_monitoring_resolves_its_conditions_and_stops_watching_it() {
        let mut e = engine();
        let level = json!({"kind": "classification", "jsog_level": 3, "start_s": 0.0, "end_s": 600.0, "table_version": "t"});
        let under_way = json!({"kind": "deceleration_under_way", "start_s": 700.0, "depth_bpm": 50.0, "duration_s": 130.0});
        e.on_samples(1, "a", true, 0);
        e.on_samples(2, "a", true, 0);
        let jsog = e.on_finding(1, "a", &level, 1_000)[0].id;
        let prolonged = e.on_finding(1, "a", &under_way, 1_000)[0].id;
        let other = e.on_finding(2, "a", &level, 1_000)[0].id;
        let stalled = e.tick(31_000);
        assert_eq!(stalled.len(), 2, "both streams stall");
        let ended = e.on_stream_ended(1, 40_000);
        let ids: Vec<u64> = ended.iter().map(|a| a.id).collect();
        let stall_1 = stalled
            .iter()
            .find(|a| matches!(a.subject, Subject::Stream { id: 1, .. }))
            .unwrap()
            .id;
        assert_eq!(ids, vec![jsog, stall_1]);
        assert!(ended.iter().all(|a| a.resolved_ms == Some(40_000)));
        let open: Vec<u64> = e
            .alerts()
            .iter()
            .filter(|a| a.resolved_ms.is_none())
            .map(|a| a.id)
            .collect();
        assert!(
            open.contains(&prolonged) && open.contains(&other),
            "{open:?}"
        );
        assert!(!open.contains(&jsog));
        // No stall raised again for the ended stream; the other's stays as it was.
        assert!(e.tick(120_000).iter().all(|a| a.subject
            != Subject::Stream {
                id: 1,
                facility: "a".into(),
                fetus: None
            }));
        // Its monitor sends again: watched again.
        e.on_samples(1, "a", true, 200_000);
        let again = e.tick(231_000);
        assert!(
            again.iter().any(|a| a.subject
                == Subject::Stream {
                    id: 1,
                    facility: "a".into(),
                    fetus: None
                }
                && a.kind == AlertKind::StreamStalled),
            "{again:?}"
        );
    }

    /// A hub that was not running for a minute or more says so when it starts, for the
    /// centre, open until acknowledged; a quick restart says nothing.
    #[test]
    fn a_hub_that_was_down_says_so_when_it_starts() {
        let mut e = engine();
        assert!(e.on_hub_started("centre", 30_000, 1_000_000).is_empty());
        let told = e.on_hub_started("centre", 5 * 60_000 - 20_000, 1_000_000);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].kind, AlertKind::HubDown);
        assert_eq!(told[0].facts, json!({"text": "hub_down", "down_min": 5}));
        assert!(
            told[0]
                .detail
                .starts_with("the hub was not running for 5 min")
        );
        assert!(!told[0].kind.clinical());
        let acked = e
            .acknowledge(told[0].id, "ob", "restarted for the update", 1_001_000)
            .unwrap();
        assert_eq!(acked.resolved_ms, Some(1_001_000));
    }

    /// Twins: each fetus's levels are its own alert. The first twin's normal level does not
    /// resolve the second twin's level 3, and each alert says which fetus it is about.
    #[test]
    fn each_twin_has_its_own_level_alert() {
        let mut e = engine();
        let window = |level: u8, fetus: &str| json!({"kind": "classification", "jsog_level": level, "start_s": 0.0, "end_s": 600.0, "table_version": "t", "fetal_channel": fetus});
        let raised = e.on_finding(1, "a", &window(3, "fhr2"), 1_000);
        assert_eq!(raised.len(), 1);
        assert_eq!(
            raised[0].subject,
            Subject::Stream {
                id: 1,
                facility: "a".into(),
                fetus: Some("fhr2".into())
            }
        );
        assert!(
            e.on_finding(1, "a", &window(1, "fhr1"), 1_500).is_empty(),
            "twin A's level 1 leaves twin B's alert open"
        );
        let a = e.on_finding(1, "a", &window(4, "fhr1"), 2_000);
        assert_eq!(a.len(), 1, "twin A's own alert");
        assert_ne!(a[0].id, raised[0].id);
        let resolved = e.on_finding(1, "a", &window(1, "fhr2"), 3_000);
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            resolved[0].id, raised[0].id,
            "twin B's level resolves twin B's alert"
        );
        assert_eq!(resolved[0].resolved_ms, Some(3_000));
    }

    /// When a stream's fetuses come to be analysed separately (twins recognised), the level
    /// alert of its one-fetus analysis is over: resolved, not left open beside the twins' own.
    #[test]
    fn the_single_level_alert_ends_when_the_twins_are_analysed_separately() {
        let mut e = engine();
        let single = json!({"kind": "classification", "jsog_level": 3, "start_s": 0.0, "end_s": 600.0, "table_version": "t"});
        let raised = e.on_finding(1, "a", &single, 1_000);
        assert_eq!(raised.len(), 1);
        let contraction = json!({"kind": "contraction", "start_s": 10.0, "peak_s": 40.0, "end_s": 70.0, "amplitude": 40.0});
        assert!(
            e.on_finding(1, "a", &contraction, 1_500).is_empty(),
            "the mother's findings name no fetus and change nothing"
        );
        let twin_a = json!({"kind": "classification", "jsog_level": 3, "start_s": 600.0, "end_s": 1200.0, "table_version": "t", "fetal_channel": "fhr1"});
        let changes = e.on_finding(1, "a", &twin_a, 2_000);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].id, raised[0].id);
        assert_eq!(changes[0].resolved_ms, Some(2_000));
        assert_eq!(changes[1].resolved_ms, None, "twin A's own alert");
        assert!(e.on_finding(1, "a", &twin_a, 3_000).is_empty(), "once only");
    }

    #[test]
    fn a_jsog_level_of_3_raises_one_alert_that_rises_and_resolves() {
        let mut e = engine();
        let window = |level: u8| json!({"kind": "classification", "jsog_level": level, "start_s": 0.0, "end_s": 600.0, "table_version": "t"});
        assert!(e.on_finding(1, "a", &window(2), 0).is_empty());
        let raised = e.on_finding(1, "a", &window(3), 1_000);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].kind, AlertKind::JsogLevel { level: 3 });
        assert!(
            e.on_finding(1, "a", &window(3), 2_000).is_empty(),
            "one condition, one alert"
        );
        let risen = e.on_finding(1, "a", &window(4), 3_000);
        assert_eq!(risen[0].id, raised[0].id);
        assert_eq!(risen[0].kind, AlertKind::JsogLevel { level: 4 });
        let resolved = e.on_finding(1, "a", &window(1), 4_000);
        assert_eq!(resolved[0].resolved_ms, Some(4_000));
        assert_eq!(
            e.on_finding(1, "a", &window(3), 5_000)[0].id,
            raised[0].id + 1,
            "a new episode is a new alert"
        );
    }

    #[test]
    fn signal_loss_waits_for_the_delay_and_clears_when_the_signal_returns() {
        let mut e = engine();
        e.on_samples(7, "a", true, 0);
        for t in (1_000..60_000).step_by(1_000) {
            assert!(e.on_samples(7, "a", false, t).is_empty(), "at {t} ms");
        }
        let raised = e.on_samples(7, "a", false, 61_000);
        assert_eq!(raised[0].kind, AlertKind::SignalLoss);
        assert!(e.on_samples(7, "a", false, 62_000).is_empty());
        let cleared = e.on_samples(7, "a", true, 63_000);
        assert_eq!(cleared[0].resolved_ms, Some(63_000));
    }

    /// A bridge's clock off the hub's by 30 s or more is told (technical), judged on the
    /// nearest of its last heartbeats (a slow one does not hide it), and resolved once the
    /// clock has been right for the heartbeats it is judged over.
    #[test]
    fn a_bridge_clock_off_the_hubs_is_told_and_resolved_once_set_right() {
        let mut e = engine();
        let hub_ms = 1_000_000_000;
        assert!(
            e.on_bridge_clock("b1", "a", hub_ms + 29_000, hub_ms)
                .is_empty()
        );
        let raised = e.on_bridge_clock("b1", "a", hub_ms + 5_000 + 45_000, hub_ms + 5_000);
        assert_eq!(raised[0].kind, AlertKind::BridgeClock);
        assert!(!raised[0].kind.clinical());
        assert_eq!(
            raised[0].detail,
            "bridge b1's clock is 45 s ahead of the hub's: its trace times are off by as much \
             (check its time synchronisation, NTP)"
        );
        assert_eq!(raised[0].facts["text"], "bridge_clock_ahead");
        // A heartbeat 20 s late looks like a clock 25 s ahead: the nearest one still counts.
        assert!(
            e.on_bridge_clock("b1", "a", hub_ms + 10_000 + 45_000, hub_ms + 30_000)
                .is_empty()
        );
        assert_eq!(
            e.bridge_clocks(),
            [("b1".to_owned(), "a".to_owned(), 45_000)]
        );
        // Set right: resolved once the old heartbeats have gone by (12 of them).
        let mut resolved = Vec::new();
        for k in 0..12 {
            let now = hub_ms + 40_000 + k * 5_000;
            resolved.extend(e.on_bridge_clock("b1", "a", now - 50, now));
        }
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert!(resolved[0].resolved_ms.is_some());
        // Behind.
        let behind = e.on_bridge_clock("b2", "a", hub_ms - 40_000, hub_ms);
        assert_eq!(behind[0].facts["text"], "bridge_clock_behind");
        assert!(
            behind[0].detail.contains("40 s behind the hub's"),
            "{}",
            behind[0].detail
        );
    }

    /// A stream that stops while a deceleration is under way is told as stalled in that
    /// deceleration (clinical, like level 4); one whose deceleration had ended, or was last
    /// told long before the stream stopped, is plainly stalled.
    #[test]
    fn a_stream_that_stops_during_a_deceleration_under_way_says_so() {
        let under_way = |start_s: f64, duration_s: f64, ended: bool| {
            json!({"kind": "deceleration_under_way", "start_s": start_s, "depth_bpm": 38.4,
                   "duration_s": duration_s, "ended": ended})
        };
        let mut e = engine();
        e.on_samples(3, "a", true, 0);
        e.on_finding(3, "a", &under_way(2535.0, 75.0, false), 5_000);
        e.on_finding(3, "a", &under_way(2535.0, 90.0, false), 20_000);
        e.on_samples(3, "a", true, 21_000);
        assert!(e.tick(50_999).is_empty());
        let stalled = e.tick(51_000);
        assert_eq!(stalled[0].kind, AlertKind::StalledInDeceleration);
        assert!(stalled[0].kind.clinical());
        assert_eq!(
            crate::dispatch::Severity::of(&stalled[0].kind),
            crate::dispatch::Severity::Prepare
        );
        assert_eq!(
            stalled[0].detail,
            "no data for 30 s, and a deceleration was under way when it stopped (since 42.3 min: \
             1.5 min, 38 bpm deep): what followed is not known, check at the bedside"
        );
        assert_eq!(stalled[0].facts["text"], "stalled_in_deceleration");
        assert!(e.tick(60_000).is_empty(), "one condition, one alert");
        // Data again: resolved, as a plain stall is.
        assert_eq!(
            e.on_samples(3, "a", true, 61_000)[0].resolved_ms,
            Some(61_000)
        );

        // Ended before the stream stopped: a plain stall.
        e.on_finding(3, "a", &under_way(2700.0, 60.0, false), 62_000);
        e.on_finding(3, "a", &under_way(2700.0, 70.0, true), 70_000);
        e.on_samples(3, "a", true, 71_000);
        assert_eq!(e.tick(101_000)[0].kind, AlertKind::StreamStalled);
        e.on_samples(3, "a", true, 102_000);

        // Told last more than 40 s before the last block (its end message missed): plain.
        e.on_finding(3, "a", &under_way(2800.0, 30.0, false), 103_000);
        e.on_samples(3, "a", true, 143_001);
        assert_eq!(e.tick(173_001)[0].kind, AlertKind::StreamStalled);
        // Another stream's deceleration does not count for this one.
        e.on_samples(4, "a", true, 200_000);
        e.on_finding(5, "a", &under_way(100.0, 30.0, false), 200_000);
        let other = e.tick(230_000);
        assert!(
            other.iter().any(|a| a.kind == AlertKind::StreamStalled
                && matches!(a.subject, Subject::Stream { id: 4, .. })),
            "{other:?}"
        );
    }

    #[test]
    fn a_stalled_stream_and_an_offline_bridge_are_raised_at_exactly_their_delay() {
        let mut e = engine();
        e.on_samples(3, "a", true, 10_000);
        assert!(e.tick(39_999).is_empty());
        let stalled = e.tick(40_000);
        assert_eq!(stalled[0].kind, AlertKind::StreamStalled);
        assert!(e.tick(41_000).is_empty());
        assert_eq!(
            e.on_samples(3, "a", true, 42_000)[0].resolved_ms,
            Some(42_000)
        );

        // A reconnect that overlaps the old connection is not an outage.
        e.on_bridge("b1", "a", true, 90_000);
        e.on_bridge("b1", "a", true, 95_000);
        e.on_bridge("b1", "a", false, 96_000);
        assert!(
            e.tick(200_000)
                .iter()
                .all(|a| a.kind != AlertKind::BridgeOffline)
        );
        e.on_bridge("b1", "a", false, 100_000);
        assert!(
            e.tick(129_999)
                .iter()
                .all(|a| a.kind != AlertKind::BridgeOffline)
        );
        let offline = e.tick(130_000);
        assert!(offline.iter().any(|a| a.kind == AlertKind::BridgeOffline));
        let back = e.on_bridge("b1", "a", true, 131_000);
        assert_eq!(back[0].resolved_ms, Some(131_000));
    }

    #[test]
    fn a_filling_spool_raises_at_80_percent_and_resolves_below_70() {
        let mut e = engine();
        let mib = 1u64 << 20;
        assert!(
            e.on_spool("bridge-a", "clinic-a", 790 * mib, 1000 * mib, 0)
                .is_empty()
        );
        let raised = e.on_spool("bridge-a", "clinic-a", 800 * mib, 1000 * mib, 1000);
        assert_eq!(raised[0].kind, AlertKind::SpoolFilling { percent: 80 });
        let updated = e.on_spool("bridge-a", "clinic-a", 950 * mib, 1000 * mib, 2000);
        assert_eq!(updated[0].id, raised[0].id);
        assert_eq!(updated[0].kind, AlertKind::SpoolFilling { percent: 95 });
        assert!(
            e.on_spool("bridge-a", "clinic-a", 750 * mib, 1000 * mib, 3000)
                .is_empty(),
            "hysteresis"
        );
        let resolved = e.on_spool("bridge-a", "clinic-a", 100 * mib, 1000 * mib, 4000);
        assert!(resolved[0].resolved_ms.is_some());
    }

    #[test]
    fn hub_trouble_raises_once_and_resolves_after_a_quiet_minute() {
        let mut e = engine();
        let raised = e.on_hub_health(
            "centre",
            Some("1,200 samples dropped from analysis".into()),
            0,
        );
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].kind, AlertKind::HubOverloaded);
        assert!(
            e.on_hub_health("centre", Some("again".into()), 1000)
                .iter()
                .all(|a| a.id == raised[0].id)
        );
        assert!(
            e.on_hub_health("centre", None, 60_999).is_empty(),
            "not before a quiet minute"
        );
        let resolved = e.on_hub_health("centre", None, 61_000);
        assert!(resolved[0].resolved_ms.is_some());
    }

    #[test]
    fn tachysystole_over_thirty_minutes_with_hysteresis() {
        let mut e = engine();
        let contraction =
            |start: f64| json!({"kind": "contraction", "start_s": start, "end_s": start + 60.0});
        let mut raised = Vec::new();
        // Every 100 s: 18 in 30 minutes, above 15.
        for k in 0..30 {
            raised.extend(e.on_finding(1, "clinic-a", &contraction(k as f64 * 100.0), k * 100_000));
        }
        assert_eq!(
            raised
                .iter()
                .filter(|a| a.kind == AlertKind::Tachysystole)
                .count(),
            1,
            "one alert"
        );
        // Then one every 300 s: the count falls to 12 or fewer and it resolves.
        let mut resolved = false;
        for k in 0..12 {
            let t = 3000.0 + k as f64 * 300.0;
            resolved |= e
                .on_finding(1, "clinic-a", &contraction(t), (t * 1000.0) as i64)
                .iter()
                .any(|a| a.resolved_ms.is_some());
        }
        assert!(resolved);
    }

    /// A restart does not start the tachysystole count again: the contractions told before it
    /// count on, so an open alert does not resolve at the next contraction.
    #[test]
    fn the_tachysystole_count_goes_on_across_a_restart() {
        let contraction =
            |start: f64| json!({"kind": "contraction", "start_s": start, "end_s": start + 60.0});
        let mut before = engine();
        let mut told = Vec::new();
        for k in 0..20 {
            let onset = k as f64 * 100.0;
            told.push(onset);
            before.on_finding(1, "clinic-a", &contraction(onset), k * 100_000);
        }
        let open: Vec<Alert> = before
            .alerts()
            .iter()
            .filter(|a| a.kind == AlertKind::Tachysystole && a.resolved_ms.is_none())
            .cloned()
            .collect();
        assert_eq!(open.len(), 1);
        let restarted = |recall: bool| {
            let mut after = engine();
            after.restore(open.clone(), 2_000_000);
            if recall {
                // Told twice over (a finding stored and read again) counts once.
                after.recall_contractions(1, told.iter().copied().chain([1900.0]));
            }
            after.on_finding(1, "clinic-a", &contraction(2000.0), 2_000_000)
        };
        assert!(
            restarted(true).iter().all(|a| a.resolved_ms.is_none()),
            "still 17 in 30 minutes"
        );
        assert!(
            restarted(false).iter().any(|a| a.resolved_ms.is_some()),
            "without them the count starts again from one"
        );
    }

    #[test]
    fn twins_channels_on_one_heart_raise_an_alert_until_they_part() {
        let mut e = engine();
        let began = json!({"kind": "cross_channel_under_way", "start_s": 1335.0,
                           "channels": ["fhr1", "fhr2"]});
        let raised = e.on_finding(3, "clinic-b", &began, 1_000);
        assert_eq!(raised.len(), 1, "{raised:?}");
        let alert = &raised[0];
        assert_eq!(alert.kind, AlertKind::CrossChannel);
        assert_eq!(
            alert.detail,
            "FHR1 = FHR2 coincide from 22.3 min: possibly one heart on both transducers (check \
             that each records its own twin)"
        );
        assert_eq!(alert.facts["channels"], "FHR1 = FHR2");
        assert_eq!(
            crate::dispatch::Severity::of(&alert.kind),
            crate::dispatch::Severity::Watch
        );
        // Told again (a repeat after a restart): the same alert, not a second one.
        assert!(e.on_finding(3, "clinic-b", &began, 2_000).is_empty());
        let over = json!({"kind": "cross_channel", "start_s": 1335.0, "end_s": 2100.0,
                          "channels": ["fhr1", "fhr2"]});
        let resolved = e.on_finding(3, "clinic-b", &over, 3_000);
        assert!(
            resolved
                .iter()
                .any(|a| a.kind == AlertKind::CrossChannel && a.resolved_ms == Some(3_000)),
            "{resolved:?}"
        );
    }

    #[test]
    fn the_monitors_own_coincidence_is_an_alert_of_its_own() {
        let mut e = engine();
        let began = json!({"kind": "cross_channel_under_way", "start_s": 600.0, "channels": [],
                           "source": "monitor"});
        let ours = json!({"kind": "cross_channel_under_way", "start_s": 630.0,
                          "channels": ["fhr1", "fhr2"]});
        let raised: Vec<_> = [&began, &ours]
            .iter()
            .flat_map(|f| e.on_finding(4, "clinic-b", f, 1_000))
            .collect();
        let kinds: Vec<_> = raised.iter().map(|a| a.kind.clone()).collect();
        assert_eq!(
            kinds,
            [AlertKind::MonitorCoincidence, AlertKind::CrossChannel]
        );
        assert!(raised[0].detail.starts_with(
            "the monitor reports coincidence (its cross-channel verification) from 10.0 min"
        ));
        // The monitor's ending resolves its own alert, not the analysis's.
        let over = json!({"kind": "cross_channel", "start_s": 600.0, "end_s": 900.0,
                          "channels": [], "source": "monitor"});
        let resolved = e.on_finding(4, "clinic-b", &over, 2_000);
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert_eq!(resolved[0].kind, AlertKind::MonitorCoincidence);
        assert!(resolved[0].resolved_ms.is_some());
    }

    #[test]
    fn prolonged_decelerations_and_bradycardia() {
        let mut e = engine();
        let decel = json!({"kind": "deceleration", "type": "prolonged", "start_s": 600.0, "end_s": 840.0, "depth_bpm": 45.0});
        let raised = e.on_finding(2, "a", &decel, 0);
        assert!(
            raised[0]
                .detail
                .contains("prolonged deceleration at 10.0 min")
        );
        assert!(
            e.on_finding(2, "a", &decel, 1).is_empty(),
            "the same deceleration is one alert"
        );
        let acked = e
            .acknowledge(raised[0].id, "mw", "position change, O2", 5)
            .unwrap();
        assert_eq!(acked.acknowledged.as_ref().unwrap().by, "mw");
        assert_eq!(acked.resolved_ms, Some(5));
        let variable = json!({"kind": "deceleration", "type": "variable", "start_s": 900.0});
        assert!(e.on_finding(2, "a", &variable, 6).is_empty());
        let slow = json!({"kind": "baseline", "bpm": 100.0});
        assert_eq!(
            e.on_finding(2, "a", &slow, 7)[0].kind,
            AlertKind::Bradycardia
        );
        let normal = json!({"kind": "baseline", "bpm": 135.0});
        assert!(e.on_finding(2, "a", &normal, 8)[0].resolved_ms.is_some());
    }

    #[test]
    fn a_prolonged_deceleration_is_told_while_under_way_and_once() {
        let mut e = engine();
        let under_way = |duration_s: f64| {
            json!({"kind": "deceleration_under_way", "start_s": 1200.0, "depth_bpm": 50.0,
                   "duration_s": duration_s})
        };
        assert!(e.on_finding(3, "a", &under_way(45.0), 0).is_empty());
        assert!(e.on_finding(3, "a", &under_way(110.0), 1).is_empty());
        let raised = e.on_finding(3, "a", &under_way(125.0), 2);
        assert_eq!(raised.len(), 1);
        assert_eq!(
            raised[0].kind,
            AlertKind::ProlongedDeceleration { start_ds: 12_000 }
        );
        assert!(
            raised[0].detail.contains("under way since 20.0 min"),
            "{}",
            raised[0].detail
        );
        // The same as facts, for the viewer to say in its language.
        assert_eq!(
            raised[0].facts,
            json!({"text": "prolonged_under_way", "start_min": 20.0, "minutes": 2.1,
                   "depth_bpm": 50.0})
        );
        assert!(e.on_finding(3, "a", &under_way(240.0), 3).is_empty());
        // Acknowledged (resolved); its final finding 8.5 minutes later is the same deceleration
        // (its start measured against another baseline) and raises nothing.
        e.acknowledge(raised[0].id, "mw", "O2, left lateral", 4);
        let final_one = json!({"kind": "deceleration", "type": "prolonged", "start_s": 1195.0,
                               "end_s": 1480.0, "depth_bpm": 58.0});
        assert!(e.on_finding(3, "a", &final_one, 5).is_empty());
        // A final prolonged deceleration nobody was told of while it lasted still raises one,
        // and so does one on another stream.
        let later = json!({"kind": "deceleration", "type": "prolonged", "start_s": 3000.0,
                           "end_s": 3200.0, "depth_bpm": 40.0});
        assert_eq!(e.on_finding(3, "a", &later, 6).len(), 1);
        assert_eq!(e.on_finding(4, "a", &final_one, 7).len(), 1);
        // The threshold is configurable (FIGO: 3 minutes).
        let mut figo = AlertEngine::new(AlertRules {
            prolonged_under_way_s: 180.0,
            ..AlertRules::default()
        });
        assert!(figo.on_finding(3, "a", &under_way(125.0), 0).is_empty());
        assert_eq!(figo.on_finding(3, "a", &under_way(185.0), 1).len(), 1);
    }

    #[test]
    fn a_jsog_level_alert_says_what_the_table_was_given() {
        let mut e = engine();
        let level = json!({"kind": "classification", "start_s": 600.0, "end_s": 1200.0,
                           "jsog_level": 3, "table_version": "t",
                           "evidence": {"baseline": "normal", "variability": "moderate",
                                        "deceleration": "late_mild", "signal_percent": 92.0}});
        let raised = e.on_finding(7, "a", &level, 0);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].facts["text"], "jsog_window_inputs");
        assert_eq!(raised[0].facts["deceleration"], "late_mild");
        assert!(
            raised[0].detail.ends_with(
                "(table t): baseline normal, variability normal, decelerations mild late"
            ),
            "{}",
            raised[0].detail
        );
        // A level stored before the hub sent evidence says the window alone.
        let mut bare = level.clone();
        bare["evidence"] = serde_json::Value::Null;
        bare["jsog_level"] = json!(4);
        let updated = e.on_finding(7, "a", &bare, 1);
        assert_eq!(updated[0].facts["text"], "jsog_window");
    }

    #[test]
    fn an_alert_told_while_under_way_says_what_the_final_analysis_made_of_it() {
        let mut e = engine();
        let under_way = |start_s: f64, duration_s: f64| {
            json!({"kind": "deceleration_under_way", "start_s": start_s, "depth_bpm": 30.0,
                   "duration_s": duration_s})
        };
        let window = |end_s: f64| {
            json!({"kind": "classification", "start_s": end_s - 600.0, "end_s": end_s,
                   "jsog_level": 1, "table_version": "t"})
        };
        // Three told while under way: at 10, 30 and 50 minutes.
        let first = e.on_finding(6, "a", &under_way(600.0, 125.0), 0)[0].id;
        let second = e.on_finding(6, "a", &under_way(1800.0, 130.0), 1)[0].id;
        let third = e.on_finding(6, "a", &under_way(3000.0, 121.0), 2)[0].id;
        // The first: a final variable deceleration, then the window after it is classified.
        let variable = json!({"kind": "deceleration", "type": "variable", "start_s": 610.0,
                              "end_s": 700.0, "depth_bpm": 35.0});
        assert!(
            e.on_finding(6, "a", &variable, 3).is_empty(),
            "not yet: another may follow"
        );
        let reviewed = e.on_finding(6, "a", &window(1200.0), 4);
        assert_eq!(reviewed.len(), 1);
        assert_eq!(reviewed[0].id, first);
        assert_eq!(reviewed[0].facts["text"], "prolonged_shorter");
        assert_eq!(reviewed[0].facts["final_type"], "variable");
        assert_eq!(reviewed[0].facts["final_minutes"], 1.5);
        assert!(
            reviewed[0].detail.ends_with(
                "final analysis: Variable deceleration, 1.5 min, 35 bpm deep: not prolonged"
            ),
            "{}",
            reviewed[0].detail
        );
        // The second: no final deceleration at all by the time its window is classified.
        let reviewed = e.on_finding(6, "a", &window(2400.0), 5);
        assert_eq!(reviewed.len(), 1);
        assert_eq!(reviewed[0].id, second);
        assert_eq!(reviewed[0].facts["text"], "prolonged_none");
        // Once only.
        assert!(e.on_finding(6, "a", &window(2400.0), 6).is_empty());
        // The third, acknowledged first: it keeps the words it was acknowledged with.
        let said = e.on_finding(6, "a", &under_way(3000.0, 140.0), 7);
        assert!(said.is_empty());
        e.acknowledge(third, "mw", "seen", 8);
        let prolonged = json!({"kind": "deceleration", "type": "prolonged", "start_s": 2990.0,
                               "end_s": 3150.0, "depth_bpm": 32.0});
        assert!(e.on_finding(6, "a", &prolonged, 9).is_empty());
        assert!(e.on_finding(6, "a", &window(3600.0), 10).is_empty());
    }

    #[test]
    fn a_deceleration_that_passed_the_limit_between_two_messages_is_told_when_it_ends() {
        let mut e = engine();
        let message = |duration_s: f64, ended: bool| {
            json!({"kind": "deceleration_under_way", "start_s": 600.0, "depth_bpm": 35.0,
                   "duration_s": duration_s, "ended": ended})
        };
        assert!(e.on_finding(5, "a", &message(110.0, false), 0).is_empty());
        let raised = e.on_finding(5, "a", &message(126.0, true), 1);
        assert_eq!(raised.len(), 1, "told when it ends, having lasted 2.1 min");
        assert!(
            raised[0].detail.contains("from 10.0 min: 2.1 min long"),
            "{}",
            raised[0].detail
        );
        // Its final finding is the same deceleration: no second alert; the first now says
        // the final analysis confirmed it.
        let final_one = json!({"kind": "deceleration", "type": "prolonged", "start_s": 598.0,
                               "end_s": 735.0, "depth_bpm": 38.0});
        let reviewed = e.on_finding(5, "a", &final_one, 2);
        assert_eq!(reviewed.len(), 1);
        assert_eq!(reviewed[0].id, raised[0].id);
        assert_eq!(reviewed[0].facts["text"], "prolonged_confirmed");
        // One that ends short of the limit raises nothing.
        let short = json!({"kind": "deceleration_under_way", "start_s": 900.0,
                           "depth_bpm": 35.0, "duration_s": 100.0, "ended": true});
        assert!(e.on_finding(5, "a", &short, 3).is_empty());
    }
}
