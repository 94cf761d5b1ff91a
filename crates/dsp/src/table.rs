//! The JSOG level table: versioned clinical data, loaded at start and checked for completeness.
//!
//! The default table ships as `tables/jsog-levels.toml` (embedded in the build) and is an
//! UNVERIFIED draft (see its header). [`JsogTable::from_toml`] loads a corrected table from any
//! file without a rebuild; every level the analysis reports carries the table's `version`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The table shipped with this build (an unverified draft).
pub const DEFAULT_TABLE: &str = include_str!("../tables/jsog-levels.toml");

/// Variability bands, in the table's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VariabilityBand {
    /// 細変動消失 / NICHD absent.
    Absent,
    /// 細変動減少 / NICHD minimal.
    Reduced,
    /// 中等度 / NICHD moderate.
    Moderate,
    /// 細変動増加 / NICHD marked.
    Increased,
}

/// Baseline columns, in the table's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselineBand {
    /// 正常脈 110–160 bpm.
    Normal,
    /// 頻脈 > 160 bpm.
    Tachycardia,
    /// 徐脈 < 110 bpm.
    Bradycardia,
    /// 徐脈 < 80 bpm.
    BradycardiaBelow80,
}

/// Deceleration rows, in the table's order (also the grading order used to pick the worst).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DecelerationRow {
    /// なし.
    None,
    /// 早発.
    Early,
    /// 変動 軽度.
    VariableMild,
    /// 変動 高度.
    VariableSevere,
    /// 遅発 軽度.
    LateMild,
    /// 遅発 高度.
    LateSevere,
    /// 遷延 軽度.
    ProlongedMild,
    /// 遷延 高度.
    ProlongedSevere,
}

const ROWS: [(&str, DecelerationRow); 8] = [
    ("none", DecelerationRow::None),
    ("early", DecelerationRow::Early),
    ("variable_mild", DecelerationRow::VariableMild),
    ("variable_severe", DecelerationRow::VariableSevere),
    ("late_mild", DecelerationRow::LateMild),
    ("late_severe", DecelerationRow::LateSevere),
    ("prolonged_mild", DecelerationRow::ProlongedMild),
    ("prolonged_severe", DecelerationRow::ProlongedSevere),
];
const BANDS: [(&str, VariabilityBand); 4] = [
    ("absent", VariabilityBand::Absent),
    ("reduced", VariabilityBand::Reduced),
    ("moderate", VariabilityBand::Moderate),
    ("increased", VariabilityBand::Increased),
];

impl DecelerationRow {
    /// The row's name in the table file (`late_mild`, …).
    pub fn name(self) -> &'static str {
        ROWS.iter()
            .find(|(_, row)| *row == self)
            .map_or("none", |(name, _)| name)
    }
}

impl VariabilityBand {
    /// The band's name in the table file (`absent`, `reduced`, `moderate`, `increased`).
    pub fn table_name(self) -> &'static str {
        BANDS
            .iter()
            .find(|(_, band)| *band == self)
            .map_or("moderate", |(name, _)| name)
    }
}

impl BaselineBand {
    /// The column's name in the table file (`normal`, `tachycardia`, `bradycardia`,
    /// `bradycardia_below_80`).
    pub fn name(self) -> &'static str {
        match self {
            BaselineBand::Normal => "normal",
            BaselineBand::Tachycardia => "tachycardia",
            BaselineBand::Bradycardia => "bradycardia",
            BaselineBand::BradycardiaBelow80 => "bradycardia_below_80",
        }
    }
}

/// What the durations of the severe-variable thresholds measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableDuration {
    /// The deceleration's whole duration (onset to recovery), with its nadir below the rate:
    /// the reading of Kubli et al. 1969, whose variable-deceleration grades (nadir < 70 bpm
    /// for 30–60 s or 70–80 bpm for > 60 s moderate, < 70 bpm for > 60 s severe) are where
    /// JSOG's two thresholds come from, and of JSOG's own "持続時間" of a deceleration (onset
    /// to recovery).
    #[default]
    Deceleration,
    /// Only the time the rate spends below it (a stricter reading).
    BelowThreshold,
}

/// JSOG severity thresholds (data, like the levels).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityThresholds {
    /// Severe variable: nadir below 70 bpm for this long, s (see `variable_duration`).
    pub variable_severe_below_70_s: f32,
    /// Severe variable: nadir below 80 bpm for this long, s.
    pub variable_severe_below_80_s: f32,
    /// What "for this long" measures (a table without the key: the whole deceleration).
    #[serde(default)]
    pub variable_duration: VariableDuration,
    /// Severe late: baseline-to-nadir drop, bpm.
    pub late_severe_drop_bpm: f32,
    /// Severe prolonged: nadir below, bpm.
    pub prolonged_severe_nadir_bpm: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    version: String,
    status: String,
    columns: Vec<String>,
    sinusoidal_level: u8,
    grade_only_recurrent: bool,
    severity: SeverityThresholds,
    variability: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// A loaded, complete JSOG level table.
#[derive(Clone, Debug, PartialEq)]
pub struct JsogTable {
    /// The table's version, reported with every level.
    pub version: String,
    /// Its verification status, for people.
    pub status: String,
    /// Level of a sinusoidal pattern.
    pub sinusoidal_level: u8,
    /// Whether late and variable decelerations are graded only when recurrent.
    pub grade_only_recurrent: bool,
    /// Severity thresholds.
    pub severity: SeverityThresholds,
    cells: [[[u8; 4]; 8]; 4],
}

/// Why a table file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Not valid TOML of the expected shape.
    #[error("the JSOG table is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// Something is missing or out of range.
    #[error("the JSOG table is incomplete: {0}")]
    Incomplete(String),
}

impl JsogTable {
    /// The table shipped with this build.
    pub fn default_table() -> Self {
        Self::from_toml(DEFAULT_TABLE).expect("the shipped JSOG table is complete (tested)")
    }

    /// Loads a table and checks that every variability × deceleration × baseline cell exists
    /// and holds a level from 1 to 5.
    pub fn from_toml(text: &str) -> Result<Self, TableError> {
        let raw: RawTable = toml::from_str(text)?;
        let expected = [
            BaselineBand::Normal,
            BaselineBand::Tachycardia,
            BaselineBand::Bradycardia,
            BaselineBand::BradycardiaBelow80,
        ]
        .map(BaselineBand::name);
        if raw.columns != expected {
            return Err(TableError::Incomplete(format!(
                "columns must be {expected:?}, found {:?}",
                raw.columns
            )));
        }
        if raw.version.trim().is_empty() {
            return Err(TableError::Incomplete("the version is empty".into()));
        }
        let level_ok = |l: u8| (1..=5).contains(&l);
        if !level_ok(raw.sinusoidal_level) {
            return Err(TableError::Incomplete(format!(
                "sinusoidal_level {} is not a level 1–5",
                raw.sinusoidal_level
            )));
        }
        let mut cells = [[[0u8; 4]; 8]; 4];
        for (b, (band_name, _)) in BANDS.iter().enumerate() {
            let rows = raw.variability.get(*band_name).ok_or_else(|| {
                TableError::Incomplete(format!("no [variability.{band_name}] table"))
            })?;
            for (r, (row_name, _)) in ROWS.iter().enumerate() {
                let row = rows.get(*row_name).ok_or_else(|| {
                    TableError::Incomplete(format!(
                        "[variability.{band_name}] has no `{row_name}` row"
                    ))
                })?;
                if row.len() != 4 || !row.iter().all(|&l| level_ok(l)) {
                    return Err(TableError::Incomplete(format!(
                        "[variability.{band_name}] `{row_name}` must be four levels 1–5, found {row:?}"
                    )));
                }
                cells[b][r].copy_from_slice(row);
            }
            if let Some(extra) = rows.keys().find(|k| !ROWS.iter().any(|(n, _)| n == *k)) {
                return Err(TableError::Incomplete(format!(
                    "[variability.{band_name}] has an unknown row `{extra}`"
                )));
            }
        }
        if let Some(extra) = raw
            .variability
            .keys()
            .find(|k| !BANDS.iter().any(|(n, _)| n == *k))
        {
            return Err(TableError::Incomplete(format!(
                "unknown variability table `{extra}`"
            )));
        }
        Ok(Self {
            version: raw.version,
            status: raw.status,
            sinusoidal_level: raw.sinusoidal_level,
            grade_only_recurrent: raw.grade_only_recurrent,
            severity: raw.severity,
            cells,
        })
    }

    /// The level of one cell.
    pub fn level(
        &self,
        variability: VariabilityBand,
        deceleration: DecelerationRow,
        baseline: BaselineBand,
    ) -> u8 {
        self.cells[variability as usize][deceleration as usize][baseline as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_the_viewer_gets_are_the_table_files_keys() {
        for (key, row) in ROWS {
            assert_eq!(row.name(), key);
        }
        for (key, band) in BANDS {
            assert_eq!(band.table_name(), key);
        }
        let raw: RawTable = toml::from_str(DEFAULT_TABLE).unwrap();
        let names: Vec<_> = [
            BaselineBand::Normal,
            BaselineBand::Tachycardia,
            BaselineBand::Bradycardia,
            BaselineBand::BradycardiaBelow80,
        ]
        .map(BaselineBand::name)
        .to_vec();
        assert_eq!(raw.columns, names);
        assert!(
            raw.variability
                .contains_key(VariabilityBand::Reduced.table_name())
        );
        assert!(raw.variability["moderate"].contains_key(DecelerationRow::LateMild.name()));
    }
}
