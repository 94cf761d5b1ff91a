//! `mimamori eval --set key=value`: parameter studies without a rebuild.
//!
//! Overrides apply to the evaluation run only (never to `mimamori analyze`), and the JSON
//! records them, so a figure is always reproducible with the command that made it. Tune on the
//! development records and read the holdout figures only to check.

use ctg_dsp::{AnalyzerConfig, ExcursionConfig};

/// A parsed `key=value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// Dotted parameter name.
    pub key: String,
    /// Its value.
    pub value: f64,
}

/// Parses `key=value`.
pub fn parse(text: &str) -> Result<Override, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not key=value"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: the value is not a number"))?;
    let o = Override {
        key: key.trim().to_string(),
        value,
    };
    apply(&mut AnalyzerConfig::new(ctg_dsp::Profile::Figo), &o)?;
    Ok(o)
}

fn excursion(c: &mut ExcursionConfig, field: &str, v: f64) -> Result<(), String> {
    match field {
        "start_bpm" => c.start_bpm = v as f32,
        "edge_bpm" => c.edge_bpm = v as f32,
        "min_amplitude" => c.min_amplitude = v as f32,
        "min_duration" => c.min_duration = v as u64,
        "min_time_beyond" => c.min_time_beyond = v as u64,
        "max_gap" => c.max_gap = v as u64,
        "split_bpm" => c.split_bpm = v as f32,
        _ => return Err(format!("unknown excursion parameter `{field}`")),
    }
    Ok(())
}

/// Applies one override to a configuration.
pub fn apply(config: &mut AnalyzerConfig, o: &Override) -> Result<(), String> {
    let v = o.value;
    let (section, field) = o
        .key
        .split_once('.')
        .ok_or_else(|| format!("`{}` is not section.field", o.key))?;
    match section {
        "prep" => match field {
            "coincidence_bpm" => config.prep.coincidence_bpm = v as f32,
            "mhr_min_bpm" => config.prep.mhr_min_bpm = v as f32,
            "mhr_max_bpm" => config.prep.mhr_max_bpm = v as f32,
            "coincidence_share" => config.prep.coincidence_share = v as f32,
            "min_island" => config.prep.min_island = v as usize,
            "jump_island" => config.prep.jump_island = v as usize,
            "jump_bpm" => config.prep.jump_bpm = v as f32,
            "coincidence_half" => config.prep.coincidence_half = v as usize,
            "island_on_baseline_bpm" => config.prep.island_on_baseline_bpm = v as f32,
            "continuity_gap" => config.prep.continuity_gap = v as usize,
            "continuity_hold" => config.prep.continuity_hold = v as usize,
            "halving_max_len" => config.prep.halving_max_len = v as usize,
            "halving_max_step" => config.prep.halving_max_step = v as usize,
            _ => return Err(format!("unknown prep parameter `{field}`")),
        },
        "baseline" => match field {
            "half_window" => config.baseline.half_window = v as u64,
            "mode_half_window" => config.baseline.mode_half_window = v as u64,
            "min_signal" => config.baseline.min_signal = v as u32,
            "mode_band" => config.baseline.mode_band = v as f32,
            "trim_band" => config.baseline.trim_band = v as f32,
            _ => return Err(format!("unknown baseline parameter `{field}`")),
        },
        "decel" => excursion(&mut config.deceleration, field, v)?,
        "accel" => excursion(&mut config.acceleration, field, v)?,
        "contraction" => match field {
            "smooth_half" => config.contractions.smooth_half = v as usize,
            "tone_half" => config.contractions.tone_half = v as u64,
            "tone_quantile" => config.contractions.tone_quantile = v as f32,
            other => excursion(&mut config.contractions.rise, other, v)?,
        },
        "typing" => match field {
            "association_before_s" => config.typing.association_before_s = v,
            "early_max_lag_s" => config.typing.early_max_lag_s = v,
            "prolonged_s" => config.typing.prolonged_s = v,
            "prolonged_acceleration_s" => {
                config.typing.prolonged_acceleration_s = (v > 0.0).then_some(v)
            }
            "abrupt_below_s" => config.typing.abrupt_below_s = v,
            "gradual_from_s" => config.typing.gradual_from_s = v,
            "recurrent_without_toco" => config.typing.recurrent_without_toco = v as usize,
            "recurrent_at_half" => config.typing.recurrent_at_half = v != 0.0,
            _ => return Err(format!("unknown typing parameter `{field}`")),
        },
        "window" => match field {
            "deep_deceleration_bpm" => config.window.deep_deceleration_bpm = v as f32,
            "acceleration_max_baseline_fall_bpm" => {
                config.window.acceleration_max_baseline_fall_bpm = v as f32
            }
            "absent_max_bpm" => config.window.absent_max_bpm = v,
            "reduced_max_bpm" => config.window.reduced_max_bpm = v,
            "moderate_max_bpm" => config.window.moderate_max_bpm = v,
            "baseline_band_bpm" => config.window.baseline_band_bpm = v as f32,
            "sinusoidal_power_share" => config.window.sinusoidal_power_share = v,
            "sinusoidal_peak_share" => config.window.sinusoidal_peak_share = v,
            "variability_trim" => config.window.variability_trim = v as usize,
            "min_event_signal_share" => config.window.min_event_signal_share = v,
            "event_quality_margin" => config.window.event_quality_margin = v as u64,
            "figo_pathological_burden" => config.window.figo_pathological_burden = v,
            _ => return Err(format!("unknown window parameter `{field}`")),
        },
        // What the recordings are read as, not the analysis ([`apply_input`]).
        "input" => match field {
            "heart_rate_step_bpm" | "ua_step" if v > 0.0 && v <= 10.0 => {}
            "heart_rate_step_bpm" | "ua_step" => {
                return Err(format!("input.{field}: a step of 0–10 units, not {v}"));
            }
            _ => return Err(format!("unknown input parameter `{field}`")),
        },
        _ => return Err(format!("unknown section `{section}`")),
    }
    Ok(())
}

/// Reads a recording's samples as a coarser monitor would send them: `input.heart_rate_step_bpm`
/// rounds every heart rate to that step (1: the whole bpm of the Corometrics Model 115 protocol,
/// against the quarter bpm of the recordings), `input.ua_step` the uterine activity to that many
/// units. No signal stays no signal.
pub fn apply_input(samples: &mut [ctg_proto::model::Sample], overrides: &[Override]) {
    use ctg_proto::model::Channel;
    let step = |key: &str| {
        overrides
            .iter()
            .rev()
            .find(|o| o.key == key)
            .map(|o| o.value)
    };
    // Steps in the samples' own units: quarter bpm and half units.
    let round = |value: u16, step: f64| -> u16 {
        ((f64::from(value) / step).round() * step).clamp(0.0, f64::from(u16::MAX)) as u16
    };
    if let Some(bpm) = step("input.heart_rate_step_bpm") {
        for s in samples.iter_mut() {
            for channel in [Channel::Fhr1, Channel::Fhr2, Channel::Fhr3, Channel::Mhr] {
                let v = &mut s.values[channel.index()];
                if *v != 0 {
                    // A rate never rounds to "no signal".
                    *v = round(*v, 4.0 * bpm).max(1);
                }
            }
        }
    }
    if let Some(units) = step("input.ua_step") {
        for s in samples.iter_mut() {
            let v = &mut s.values[Channel::Ua.index()];
            *v = round(*v, 2.0 * units);
        }
    }
}

#[cfg(test)]
mod tests {
    use ctg_proto::model::{Channel, Sample};

    use super::*;

    /// `input.*` reads the recordings as a coarser monitor would send them: rates to the step
    /// (no signal stays none, a rate never becomes none), uterine activity to its step; other
    /// input keys and steps are refused when parsed.
    #[test]
    fn input_steps_round_what_the_recordings_hold() {
        let set = [
            parse("input.heart_rate_step_bpm=1").unwrap(),
            parse("input.ua_step=1").unwrap(),
        ];
        let mut samples = [Sample::default(); 3];
        samples[0].values = [561, 0, 0, 322, 21]; // 140.25 bpm, none, none, 80.5 bpm, 10.5 units
        samples[1].values = [563, 1, 0, 0, 0]; // 140.75, 0.25 bpm
        samples[2].values = [0, 0, 0, 0, 7]; // 3.5 units
        apply_input(&mut samples, &set);
        assert_eq!(samples[0].values, [560, 0, 0, 324, 22]);
        assert_eq!(
            samples[1].values[..2],
            [564, 1],
            "a rate never rounds to none"
        );
        assert_eq!(samples[2].value(Channel::Ua), 8);
        assert!(parse("input.heart_rate_step_bpm=0").is_err());
        assert!(parse("input.sample_rate=1").is_err());
        // Not an analysis parameter: the configuration is untouched.
        let mut config = AnalyzerConfig::new(ctg_dsp::Profile::Figo);
        apply(&mut config, &set[0]).unwrap();
        assert_eq!(
            format!("{config:?}"),
            format!("{:?}", AnalyzerConfig::new(ctg_dsp::Profile::Figo))
        );
    }
}
