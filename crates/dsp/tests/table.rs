//! The JSOG level table is data: loaded, checked for completeness, versioned.

use ctg_dsp::JsogTable;
use ctg_dsp::table::{BaselineBand, DEFAULT_TABLE, DecelerationRow, VariabilityBand};

#[test]
fn shipped_table_loads_and_says_it_is_unverified() {
    let t = JsogTable::default_table();
    assert!(t.version.contains("UNVERIFIED"), "{}", t.version);
    assert!(t.status.contains("unverified"));
    assert_eq!(
        t.level(
            VariabilityBand::Moderate,
            DecelerationRow::None,
            BaselineBand::Normal
        ),
        1
    );
    assert_eq!(
        t.level(
            VariabilityBand::Reduced,
            DecelerationRow::ProlongedSevere,
            BaselineBand::Normal
        ),
        5
    );
    assert_eq!(
        t.level(
            VariabilityBand::Absent,
            DecelerationRow::None,
            BaselineBand::Tachycardia
        ),
        4
    );
}

#[test]
fn a_corrected_table_changes_levels_without_a_rebuild() {
    let corrected = DEFAULT_TABLE
        .replace("jsog-2023-draft-2 (UNVERIFIED)", "checked-by-dr-x-2026-12")
        .replace(
            "none             = [1, 2, 3, 4]",
            "none             = [1, 3, 3, 4]",
        );
    let t = JsogTable::from_toml(&corrected).unwrap();
    assert_eq!(t.version, "checked-by-dr-x-2026-12");
    assert_eq!(
        t.level(
            VariabilityBand::Moderate,
            DecelerationRow::None,
            BaselineBand::Tachycardia
        ),
        3
    );
}

#[test]
fn incomplete_or_wrong_tables_are_refused_with_the_reason() {
    let missing_row = DEFAULT_TABLE.replacen("late_severe      = [3, 4, 4, 4]\n", "", 1);
    let err = JsogTable::from_toml(&missing_row).unwrap_err().to_string();
    assert!(
        err.contains("[variability.moderate] has no `late_severe` row"),
        "{err}"
    );
    let bad_level = DEFAULT_TABLE.replacen("[1, 2, 3, 4]", "[1, 2, 3, 7]", 1);
    let err = JsogTable::from_toml(&bad_level).unwrap_err().to_string();
    assert!(err.contains("four levels 1–5"), "{err}");
    let short = DEFAULT_TABLE.replacen("[1, 2, 3, 4]", "[1, 2, 3]", 1);
    assert!(JsogTable::from_toml(&short).is_err());
    let typo = DEFAULT_TABLE.replacen("[variability.absent]", "[variability.absnet]", 1);
    let err = JsogTable::from_toml(&typo).unwrap_err().to_string();
    assert!(err.contains("no [variability.absent] table"), "{err}");
    let no_version = DEFAULT_TABLE.replacen(
        "version = \"jsog-2023-draft-2 (UNVERIFIED)\"",
        "version = \" \"",
        1,
    );
    assert!(JsogTable::from_toml(&no_version).is_err());
}

#[test]
fn the_severe_variable_duration_reading_is_data_and_checked() {
    use ctg_dsp::table::VariableDuration;
    assert_eq!(
        JsogTable::default_table().severity.variable_duration,
        VariableDuration::Deceleration
    );
    let strict = DEFAULT_TABLE.replace(
        "variable_duration = \"deceleration\"",
        "variable_duration = \"below_threshold\"",
    );
    assert_eq!(
        JsogTable::from_toml(&strict)
            .unwrap()
            .severity
            .variable_duration,
        VariableDuration::BelowThreshold
    );
    // A table written before the key existed reads "lasting" as the whole deceleration.
    let older = DEFAULT_TABLE.replace("variable_duration = \"deceleration\"", "");
    assert_eq!(
        JsogTable::from_toml(&older)
            .unwrap()
            .severity
            .variable_duration,
        VariableDuration::Deceleration
    );
    let wrong = DEFAULT_TABLE.replace(
        "variable_duration = \"deceleration\"",
        "variable_duration = \"sometimes\"",
    );
    assert!(JsogTable::from_toml(&wrong).is_err());
    let typo = DEFAULT_TABLE.replace("variable_duration =", "variable_durations =");
    assert!(JsogTable::from_toml(&typo).is_err());
}
