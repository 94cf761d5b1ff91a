//! `mimamori alarms`: the alarm-fatigue replay over every CTU-UHB record reports rates per
//! patient-hour and the alerted share of the experts' late and prolonged decelerations.

use crate::util::mimamori_ok;

#[test]
fn the_replay_covers_every_record_and_reports_rates_and_sensitivity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alarms.json");
    let data = crate::util::shared_data();
    let stdout = mimamori_ok(&[
        "alarms",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("holdout"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["schema"], "mimamori.alarms.v1");
    let all = &report["all"];
    assert_eq!(all["records"], 415);
    assert_eq!(
        all["records"].as_u64().unwrap(),
        report["development"]["records"].as_u64().unwrap()
            + report["holdout"]["records"].as_u64().unwrap()
    );
    assert!(all["patient_hours"].as_f64().unwrap() > 400.0);
    // The experts marked 136 late and 30 prolonged decelerations (a few flagged ones are left out).
    let late = all["late"]["decelerations"].as_u64().unwrap();
    let prolonged = all["prolonged"]["decelerations"].as_u64().unwrap();
    assert!((120..=136).contains(&late), "{late}");
    assert!((25..=30).contains(&prolonged), "{prolonged}");
    let rate = all["clinical_alerts_per_patient_hour"].as_f64().unwrap();
    assert!(rate > 0.0 && rate < 20.0, "{rate}");
    let sensitivity = all["late_or_prolonged"]["sensitivity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&sensitivity));
    // Each with its 95 % interval over records, around it, and wider on the holdout's fifth
    // of the records than on all of them.
    let interval = |v: &serde_json::Value| -> [f64; 2] {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let width = |[lo, hi]: [f64; 2]| hi - lo;
    let [lo, hi] = interval(&all["clinical_alerts_per_patient_hour_ci95"]);
    assert!(lo < rate && rate < hi, "{lo}–{hi} around {rate}");
    let [lo, hi] = interval(&all["late_or_prolonged"]["sensitivity_ci95"]);
    assert!(
        lo < sensitivity && sensitivity < hi && hi <= 1.0,
        "{lo}–{hi} around {sensitivity}"
    );
    let holdout = &report["holdout"];
    assert!(
        width(interval(&holdout["clinical_alerts_per_patient_hour_ci95"]))
            > width(interval(&all["clinical_alerts_per_patient_hour_ci95"]))
    );
    assert!(
        stdout.contains("95 % interval over records, all: clinical/h"),
        "{stdout}"
    );
    // A deceleration is final only after the baseline's 8.5-minute look-ahead past it; the
    // provisional one, measured against the newest final baseline, shows within a minute or
    // two, and a prolonged one is known to be prolonged minutes before its final finding.
    let t = &all["timeliness"];
    let minutes = |k: &str| t[k].as_f64().unwrap_or_else(|| panic!("{k}: {t}"));
    assert!(t["decelerations"].as_u64().unwrap() > 1000, "{t}");
    assert!(minutes("final_minutes_after_start_median") > 8.5, "{t}");
    assert!(
        minutes("provisional_minutes_after_start_median") < 2.0,
        "{t}"
    );
    assert!(
        t["shown_provisional"].as_u64().unwrap() * 2 > t["decelerations"].as_u64().unwrap(),
        "{t}"
    );
    assert!(
        minutes("prolonged_provisional_minutes_after_start_median")
            < minutes("prolonged_final_minutes_after_start_median") - 5.0,
        "{t}"
    );
    // The curves behind the plot: percent told by each half minute, never falling, the final
    // findings all in by 15 minutes, the provisional ones ahead of them at 5 minutes.
    let curve = |k: &str| -> Vec<f64> {
        t["told_by_minute"][k]
            .as_array()
            .unwrap_or_else(|| panic!("{k}: {t}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    assert_eq!(curve("minutes").len(), 31);
    for k in ["provisional", "final", "prolonged_alert", "prolonged_final"] {
        let c = curve(k);
        assert_eq!(c.len(), 31, "{k}");
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "{k}: {c:?}");
        assert!(c.iter().all(|p| (0.0..=100.0).contains(p)), "{k}: {c:?}");
    }
    assert!(curve("final")[30] > 95.0, "{t}");
    assert!(curve("provisional")[10] > curve("final")[10] + 30.0, "{t}");
    // Every prolonged-deceleration alert ends up saying where it came from: the final finding,
    // or (raised under way) what the final analysis made of it; none is left unreviewed.
    let said = &all["prolonged_alerts_last_said"];
    let count = |k: &str| said[k].as_u64().unwrap_or(0);
    let total: u64 = said
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        total,
        all["alerts"]["prolonged_deceleration"].as_u64().unwrap(),
        "{said}"
    );
    assert!(
        count("prolonged_confirmed") > 0 && count("prolonged_final") > 0,
        "{said}"
    );
    assert_eq!(
        total,
        count("prolonged_final")
            + count("prolonged_confirmed")
            + count("prolonged_shorter")
            + count("prolonged_none"),
        "{said}"
    );
    let svg = std::fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("<polyline").count() == 4,
        "{svg}"
    );
}
