//! The viewer's words (`assets/i18n.js`, the one source of the product's phrases) for what the
//! hub says outside a browser page: a Web Push notification is shown by the service worker,
//! which cannot load the viewer's module, so the hub words it in Japanese beside the English.

use ctg_alerts::{Alert, AlertKind};
use serde_json::Value;

const SOURCE: &str = include_str!("../assets/i18n.js");

/// The phrase `key` in `language` ("ja" or "en") of `i18n.js` (one `key: "…",` per line).
pub fn phrase(language: &str, key: &str) -> Option<&'static str> {
    let block = SOURCE.split(&format!("\n  {language}: {{")).nth(1)?;
    let block = block.split("\n  },").next()?;
    let start = format!("    {key}: \"");
    let line = block.lines().find(|l| l.starts_with(&start))?;
    line[start.len()..].strip_suffix("\",")
}

/// Fills each `{name}` of `phrase` from `facts` as the viewer does: minutes (`start_min`,
/// `minutes`, `final_minutes`) to one decimal, whole numbers without one, a deceleration type
/// (`…_type`) and a JSOG table input (`baseline`, `variability`, `deceleration`: the viewer's
/// `col_`, `var_`, `row_` phrases) by its name in `language`.
pub fn fill(phrase: &str, facts: &Value, language: &str) -> String {
    let mut out = phrase.to_owned();
    let Some(facts) = facts.as_object() else {
        return out;
    };
    for (name, value) in facts {
        let shown = match (name.as_str(), value) {
            (name, Value::String(s)) if name.ends_with("_type") => {
                self::phrase(language, s).unwrap_or(s).to_owned()
            }
            ("baseline" | "variability" | "deceleration", Value::String(s)) => {
                let prefix = match name.as_str() {
                    "baseline" => "col_",
                    "variability" => "var_",
                    _ => "row_",
                };
                self::phrase(language, &format!("{prefix}{s}"))
                    .unwrap_or(s)
                    .to_owned()
            }
            (_, Value::String(s)) => s.clone(),
            ("start_min" | "minutes" | "final_minutes", v) => {
                format!("{:.1}", v.as_f64().unwrap_or(0.0))
            }
            (_, v) => match v.as_f64() {
                Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
                Some(n) => n.to_string(),
                None => v.to_string(),
            },
        };
        out = out.replace(&format!("{{{name}}}"), &shown);
    }
    out
}

/// An alert's name and what it is about, in `language`: the viewer's phrase for its kind and
/// `alert_<text>` filled with its facts; its English detail where it has no facts.
pub fn alert_words(alert: &Alert, language: &str) -> (String, String) {
    let kind = serde_json::to_value(&alert.kind)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut name = phrase(language, &kind).unwrap_or(&kind).to_owned();
    if let AlertKind::JsogLevel { level } = alert.kind {
        name = format!("{name} {level}");
    }
    let detail = alert.facts["text"]
        .as_str()
        .and_then(|text| phrase(language, &format!("alert_{text}")))
        .map(|p| fill(p, &alert.facts, language))
        .unwrap_or_else(|| alert.detail.clone());
    (name, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctg_alerts::{Hindsight, Said};

    /// Every fact an alert can carry has a phrase in both languages; filled with the facts,
    /// the English one says exactly the hub's English detail, and the Japanese one leaves no
    /// blank unfilled.
    #[test]
    fn the_viewers_alert_phrases_say_what_the_rules_say() {
        let said = [
            Said::JsogWindow {
                level: 4,
                from_min: 30.0,
                to_min: 40.0,
                table: "jsog-2023-default-1".into(),
                inputs: None,
            },
            Said::JsogWindow {
                level: 3,
                from_min: 10.0,
                to_min: 20.0,
                table: "jsog-2023-draft-2 (UNVERIFIED)".into(),
                inputs: Some(["normal".into(), "moderate".into(), "late_mild".into()]),
            },
            Said::JsogWindow {
                level: 5,
                from_min: 50.0,
                to_min: 60.0,
                table: "t".into(),
                inputs: Some([
                    "bradycardia_below_80".into(),
                    "absent".into(),
                    "prolonged_severe".into(),
                ]),
            },
            Said::ProlongedUnderWay {
                start_min: 20.04,
                minutes: 2.08,
                depth_bpm: 49.6,
            },
            Said::ProlongedEnded {
                start_min: 10.0,
                minutes: 2.1,
                depth_bpm: 35.0,
            },
            Said::ProlongedFinal {
                start_min: 61.25,
                minutes: 3.5,
                depth_bpm: 40.2,
            },
            Said::ProlongedReviewed {
                start_min: 14.9,
                minutes: 2.0,
                depth_bpm: 47.0,
                hindsight: Hindsight::Confirmed {
                    minutes: 3.24,
                    depth_bpm: 52.4,
                },
            },
            Said::ProlongedReviewed {
                start_min: 14.9,
                minutes: 2.0,
                depth_bpm: 47.0,
                hindsight: Hindsight::Shorter {
                    kind: "variable".into(),
                    minutes: 1.5,
                    depth_bpm: 35.0,
                },
            },
            Said::ProlongedReviewed {
                start_min: 14.9,
                minutes: 2.0,
                depth_bpm: 47.0,
                hindsight: Hindsight::None,
            },
            Said::Tachysystole { count: 16 },
            Said::Bradycardia {
                bpm: 104.6,
                limit_bpm: 110.0,
            },
            Said::SignalLoss { seconds: 61 },
            Said::StreamStalled { seconds: 30 },
            Said::StalledInDeceleration {
                seconds: 31,
                start_min: 42.25,
                minutes: 1.5,
                depth_bpm: 38.4,
            },
            Said::BridgeOffline {
                bridge: "clinic-a".into(),
                seconds: 45,
            },
            Said::BridgeClock {
                bridge: "ldr-pc-1".into(),
                seconds: 200,
            },
            Said::BridgeClock {
                bridge: "ldr-pc-1".into(),
                seconds: -45,
            },
            Said::SpoolFilling {
                percent: 85,
                used_mib: 870,
                cap_mib: 1024,
            },
            Said::ChannelFailing {
                channel: "webhook http://pager".into(),
            },
            Said::CrossChannel {
                channels: "FHR1 = FHR2".into(),
                from_min: 22.25,
            },
            Said::MonitorCoincidence { from_min: 10.0 },
            Said::HubDown { minutes: 7 },
        ];
        for s in &said {
            let facts = s.facts();
            let text = facts["text"].as_str().expect("facts name their phrase");
            let key = format!("alert_{text}");
            let english = phrase("en", &key).unwrap_or_else(|| panic!("no en phrase for {text}"));
            assert_eq!(fill(english, &facts, "en"), s.english(), "{text}");
            let japanese = phrase("ja", &key).unwrap_or_else(|| panic!("no ja phrase for {text}"));
            let filled = fill(japanese, &facts, "ja");
            assert!(!filled.contains('{'), "{text}: {filled}");
            for key in ["baseline", "variability", "deceleration", "final_type"] {
                if let Some(raw) = facts[key].as_str() {
                    assert!(
                        !filled.contains(raw),
                        "{text}: {key} untranslated: {filled}"
                    );
                }
            }
            assert_ne!(filled, s.english(), "{text}");
        }
        assert!(
            Said::Words("the store writer's queue is nearly full".into())
                .facts()
                .is_null()
        );
    }
}
