//! Alerting, sans-IO: nothing here reads a clock, opens a socket or touches a disk; every input
//! carries the time, every output is a value, so the whole of it is unit-tested on a simulated
//! clock (the shape of quinn-proto).
//!
//! - [`rules`]: conditions from findings, samples and connections become alerts (one condition,
//!   one alert; raised, updated, acknowledged, resolved).
//! - [`dispatch`]: who is told, how and when: the on-call roster, routing by severity,
//!   escalation to the next person when nobody acknowledges, repeats for the most urgent,
//!   snooze with an upper bound, delivery attempts with retries and a failing-channel alarm.

pub mod dispatch;
pub mod rules;

pub use rules::*;

/// The alerts configuration file: `[rules]` (what raises an alert) and `[policy]` (who is told,
/// when, how often); every field is optional and defaults to the documented value.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Thresholds and delays of the rules.
    pub rules: AlertRules,
    /// Routing, escalation, repeats, snooze, retries.
    pub policy: dispatch::Policy,
}

/// Why an alerts file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("alerts configuration: {0}")]
pub struct ConfigError(String);

impl AlertsConfig {
    /// Reads a TOML alerts file; unknown keys are errors (a typo must not silently keep a
    /// default).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let p = &config.policy;
        for (name, value) in [
            ("escalate_urgent_ms", p.escalate_urgent_ms),
            ("escalate_prepare_ms", p.escalate_prepare_ms),
            ("escalate_watch_ms", p.escalate_watch_ms),
            ("escalate_technical_ms", p.escalate_technical_ms),
            ("repeat_urgent_ms", p.repeat_urgent_ms),
            ("retry_first_ms", p.retry_first_ms),
        ] {
            if value < 1000 {
                return Err(ConfigError(format!(
                    "policy.{name} must be at least 1000 ms"
                )));
            }
        }
        if !(1..=1440).contains(&(p.snooze_max_ms / 60_000)) {
            return Err(ConfigError(
                "policy.snooze_max_ms must be 1 min to 24 h".into(),
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_exactly_the_defaults() {
        let example = include_str!("../../../docs/alerts.example.toml");
        assert_eq!(
            AlertsConfig::parse(example).unwrap(),
            AlertsConfig::default()
        );
    }

    #[test]
    fn an_empty_file_is_the_defaults_and_typos_are_errors() {
        assert_eq!(AlertsConfig::parse("").unwrap(), AlertsConfig::default());
        let c =
            AlertsConfig::parse("[rules]\njsog_level = 4\n[policy]\nescalate_watch_ms = 300000\n")
                .unwrap();
        assert_eq!(c.rules.jsog_level, 4);
        assert_eq!(c.policy.escalate_watch_ms, 300_000);
        assert_eq!(
            c.policy.repeat_urgent_ms,
            dispatch::Policy::default().repeat_urgent_ms
        );
        assert!(AlertsConfig::parse("[rules]\njsog_levle = 4\n").is_err());
        assert!(AlertsConfig::parse("[policy]\nrepeat_urgent_ms = 5\n").is_err());
    }
}
