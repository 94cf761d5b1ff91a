//! `mimamori analyze FILE --svg OUT`: the recording drawn with what the analysis found in it,
//! for a reader who would rather look than read the JSON: the fetal trace with its baseline,
//! accelerations and decelerations (typed, each with why it has its type on hover), the
//! stretches judged false signal, the contractions on the toco, and each 10-minute window's
//! classification above it. Thirty minutes a row, so an hours-long recording stays legible.
//!
//! A review figure, not the paper chart: the viewer draws that (3 cm/min, `crates/hub/assets`).

use std::fmt::Write as _;

use ctg_dsp::{DecelerationType, FalseKind, Report, Severity};
use ctg_eval::datasets::{EventKind, ExpertEvent};
use ctg_formats::Recording;
use ctg_proto::model::{Channel, Quality};

/// Minutes per row.
const ROW_MINUTES: f64 = 30.0;
/// Horizontal scale, px per minute.
const PX_PER_MIN: f64 = 48.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 24.0;
/// Above the first row: title and legend.
const HEAD: f64 = 72.0;
/// Per row: the classification strip, the FHR panel, a gap, the toco panel, the time labels.
const STRIP: f64 = 18.0;
const FHR_HEIGHT: f64 = 200.0;
const GAP: f64 = 8.0;
const TOCO_HEIGHT: f64 = 70.0;
const FOOT: f64 = 34.0;
const ROW_HEIGHT: f64 = STRIP + FHR_HEIGHT + GAP + TOCO_HEIGHT + FOOT;
/// The FHR panel's range, bpm (JSOG practice draws 50–210).
const FHR_LOW: f64 = 50.0;
const FHR_HIGH: f64 = 210.0;
/// The toco panel's range, units.
const TOCO_HIGH: f64 = 100.0;

/// What the chart needs besides the report: which channel was analysed as fetal (and the one
/// that filled its gaps), the profile's name, and an expert's marks to draw beside ours.
pub struct Context<'a> {
    pub fetal: Channel,
    pub fallback: Option<Channel>,
    pub profile: &'a str,
    pub expert: Option<ExpertLane<'a>>,
    pub signal_labels: Option<SignalLabels<'a>>,
}

/// Experts' true- and false-signal labels on the fetal channel (`mimamori eval --chart` on an
/// FHRMA-FS file): 0-based inclusive sample ranges, drawn at the foot of the FHR panel, false
/// signal as a red bar, true signal as a thin green one.
pub struct SignalLabels<'a> {
    pub true_fhr: &'a [(u64, u64)],
    pub false_fhr: &'a [(u64, u64)],
}

/// An expert's marks on the same recording (`mimamori eval --chart`), drawn at the foot of
/// each panel: filled where one of ours matched the mark, hollow where none did; ours that
/// matched none get a dashed outline.
pub struct ExpertLane<'a> {
    /// Who marked, for the title.
    pub who: &'a str,
    /// The marks stop here, s (nothing after it is scored).
    pub annotated_end_s: f64,
    pub events: &'a [ExpertEvent],
    /// Per mark: whether one of ours matched it.
    pub matched: &'a [bool],
    /// Per event of ours (accelerations, decelerations, contractions): matched, unmatched, or
    /// after the annotated span.
    pub ours_matched: &'a [Vec<Option<bool>>; 3],
}

/// The outline of one of our events: dashed where it matched none of the expert's marks.
fn outline(lane: Option<&ExpertLane<'_>>, kind: usize, i: usize) -> (&'static str, &'static str) {
    match lane.and_then(|l| l.ours_matched[kind].get(i).copied().flatten()) {
        Some(true) => (r#" data-matched="yes""#, ""),
        Some(false) => (
            r#" data-matched="no""#,
            r##" stroke="#333333" stroke-width="1.2" stroke-dasharray="4 3""##,
        ),
        None => ("", ""),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn type_colour(kind: DecelerationType) -> &'static str {
    match kind {
        DecelerationType::Early => "#56b4e9",
        DecelerationType::Late => "#d55e00",
        DecelerationType::Variable => "#e69f00",
        DecelerationType::Prolonged => "#cc0033",
    }
}

fn jsog_colour(level: u8) -> &'static str {
    match level {
        1 => "#c8e6c9",
        2 => "#e6ee9c",
        3 => "#fff176",
        4 => "#ffb74d",
        _ => "#ef5350",
    }
}

/// The chart's geometry: where a time and a value go.
struct Layout {
    rows: usize,
}

impl Layout {
    fn width(&self) -> f64 {
        LEFT + ROW_MINUTES * PX_PER_MIN + RIGHT
    }

    fn height(&self) -> f64 {
        HEAD + self.rows as f64 * ROW_HEIGHT
    }

    /// The row a time falls in, and its x there.
    fn place(&self, t_s: f64) -> (usize, f64) {
        let row_s = ROW_MINUTES * 60.0;
        let row = ((t_s / row_s).floor().max(0.0) as usize).min(self.rows - 1);
        (row, self.x(row, t_s))
    }

    fn x(&self, row: usize, t_s: f64) -> f64 {
        LEFT + (t_s / 60.0 - row as f64 * ROW_MINUTES) * PX_PER_MIN
    }

    fn row_top(&self, row: usize) -> f64 {
        HEAD + row as f64 * ROW_HEIGHT
    }

    fn fhr_top(&self, row: usize) -> f64 {
        self.row_top(row) + STRIP
    }

    fn fhr_y(&self, row: usize, bpm: f64) -> f64 {
        let clamped = bpm.clamp(FHR_LOW, FHR_HIGH);
        self.fhr_top(row) + (FHR_HIGH - clamped) / (FHR_HIGH - FHR_LOW) * FHR_HEIGHT
    }

    fn toco_top(&self, row: usize) -> f64 {
        self.fhr_top(row) + FHR_HEIGHT + GAP
    }

    fn toco_y(&self, row: usize, units: f64) -> f64 {
        let clamped = units.clamp(0.0, TOCO_HIGH);
        self.toco_top(row) + (TOCO_HIGH - clamped) / TOCO_HIGH * TOCO_HEIGHT
    }

    /// The parts of `start..end` (s) in each row: `(row, x0, x1)`.
    fn spans(&self, start_s: f64, end_s: f64) -> Vec<(usize, f64, f64)> {
        let row_s = ROW_MINUTES * 60.0;
        let mut out = Vec::new();
        let mut from = start_s.max(0.0);
        while from < end_s {
            let (row, x0) = self.place(from);
            let row_end = (row as f64 + 1.0) * row_s;
            let to = if row + 1 == self.rows {
                end_s
            } else {
                end_s.min(row_end)
            };
            out.push((row, x0, self.x(row, to)));
            if row + 1 == self.rows {
                break;
            }
            from = row_end;
        }
        out
    }
}

/// A trace as SVG path data, broken at gaps (`None`) and at row ends.
fn trace(
    layout: &Layout,
    values: impl Iterator<Item = Option<f64>>,
    y: impl Fn(usize, f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut pen: Option<usize> = None;
    for (i, v) in values.enumerate() {
        let t = i as f64 / 4.0;
        let Some(v) = v else {
            pen = None;
            continue;
        };
        let (row, x) = layout.place(t);
        let command = if pen == Some(row) { 'L' } else { 'M' };
        let _ = write!(d, "{command}{x:.1} {:.1}", y(row, v));
        pen = Some(row);
    }
    d
}

/// The chart as an SVG document.
pub fn svg(recording: &Recording, report: &Report, context: &Context<'_>) -> String {
    let duration_s = report.samples as f64 / 4.0;
    let rows = ((duration_s / 60.0 / ROW_MINUTES).ceil() as usize).max(1);
    let layout = Layout { rows };
    let (width, height) = (layout.width(), layout.height());
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let version = report.classification.first().map_or(String::new(), |c| {
        format!(" · JSOG table {}", c.table_version)
    });
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{} · {:.1} min · fetal channel {} · {} profile{} · signal loss {:.1} %</text>"#,
        escape(&recording.source),
        duration_s / 60.0,
        context.fetal.name(),
        escape(context.profile),
        escape(&version),
        report.signal_loss_percent,
    );
    legend(&mut s);
    if context.signal_labels.is_some() {
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="60" fill="#333">FHRMA-FS experts' labels on the fetal channel at the FHR panel's foot: red, false signal; thin green, true signal; ours, grey</text>"##
        );
    }
    if let Some(lane) = &context.expert {
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="60" fill="#333">{}: bars at each panel's foot (hollow: none of ours matched); ours that matched none of hers: dashed outline</text>"##,
            escape(lane.who)
        );
    }
    for row in 0..rows {
        grid(&mut s, &layout, row, duration_s);
    }
    windows(&mut s, &layout, report);
    for (i, f) in report.false_signal.iter().enumerate() {
        if f.kind == FalseKind::None || f.channel == Channel::Mhr {
            continue;
        }
        let kind = match f.kind {
            FalseKind::Maternal => "maternal",
            _ => "artefact",
        };
        for (row, x0, x1) in layout.spans(f.start_s, f.end_s) {
            let _ = writeln!(
                s,
                r##"<rect class="false-signal" data-i="{i}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{FHR_HEIGHT}" fill="#9e9e9e" fill-opacity="0.35"><title>{} s judged false signal ({kind})</title></rect>"##,
                layout.fhr_top(row),
                (x1 - x0).max(0.5),
                (f.end_s - f.start_s).round(),
            );
        }
    }
    let lane = context.expert.as_ref();
    for (i, a) in report.accelerations.iter().enumerate() {
        let (matched, stroke) = outline(lane, 0, i);
        for (row, x0, x1) in layout.spans(a.start_s, a.end_s) {
            let _ = writeln!(
                s,
                r##"<rect class="accel" data-i="{i}"{matched} x="{x0:.1}" y="{:.1}" width="{:.1}" height="{FHR_HEIGHT}" fill="#009e73" fill-opacity="0.18"{stroke}><title>{} +{:.0} bpm, {:.0} s</title></rect>"##,
                layout.fhr_top(row),
                (x1 - x0).max(0.5),
                if a.prolonged {
                    "prolonged acceleration"
                } else {
                    "acceleration"
                },
                a.amplitude_bpm,
                a.end_s - a.start_s,
            );
        }
    }
    for (i, d) in report.decelerations.iter().enumerate() {
        let colour = type_colour(d.kind);
        let severity = match d.severity {
            Severity::Mild => "mild",
            Severity::Severe => "severe",
        };
        let title = format!(
            "{} {severity}{}, −{:.0} bpm, {:.0} s: {}",
            d.kind.name(),
            if d.recurrent { ", recurrent" } else { "" },
            d.depth_bpm,
            d.end_s - d.start_s,
            d.reason()
        );
        let (matched, stroke) = outline(lane, 1, i);
        for (row, x0, x1) in layout.spans(d.start_s, d.end_s) {
            let _ = writeln!(
                s,
                r#"<rect class="decel {}" data-i="{i}"{matched} x="{x0:.1}" y="{:.1}" width="{:.1}" height="{FHR_HEIGHT}" fill="{colour}" fill-opacity="0.22"{stroke}><title>{}</title></rect>"#,
                d.kind.name(),
                layout.fhr_top(row),
                (x1 - x0).max(0.5),
                escape(&title),
            );
        }
        let (row, x) = layout.place(d.nadir_s);
        let letter = match d.kind {
            DecelerationType::Early => "E",
            DecelerationType::Late => "L",
            DecelerationType::Variable => "V",
            DecelerationType::Prolonged => "P",
        };
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="{colour}">{letter}{}</text>"#,
            layout.fhr_top(row) + 12.0,
            if d.severity == Severity::Severe {
                "!"
            } else {
                ""
            },
        );
    }
    traces(&mut s, &layout, recording, report, context);
    for (i, c) in report.contractions.iter().enumerate() {
        let (matched, stroke) = outline(lane, 2, i);
        for (row, x0, x1) in layout.spans(c.start_s, c.end_s) {
            let _ = writeln!(
                s,
                r##"<rect class="contraction" data-i="{i}"{matched} x="{x0:.1}" y="{:.1}" width="{:.1}" height="{TOCO_HEIGHT}" fill="#cc79a7" fill-opacity="0.2"{stroke}><title>contraction, acme {:.0} above the resting tone, {:.0} s</title></rect>"##,
                layout.toco_top(row),
                (x1 - x0).max(0.5),
                c.amplitude,
                c.end_s - c.start_s,
            );
        }
        let (row, x) = layout.place(c.peak_s);
        let top = layout.toco_top(row);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top:.1}" y2="{:.1}" stroke="#cc79a7" stroke-width="1.5"/>"##,
            top + 6.0
        );
    }
    if let Some(lane) = lane {
        expert_marks(&mut s, &layout, lane, duration_s);
    }
    if let Some(labels) = &context.signal_labels {
        signal_labels(&mut s, &layout, labels);
    }
    s.push_str("</svg>\n");
    s
}

fn signal_labels(s: &mut String, layout: &Layout, labels: &SignalLabels<'_>) {
    for (class, ranges, colour, height) in [
        ("label-true", labels.true_fhr, "#2e7d32", 4.0),
        ("label-false", labels.false_fhr, "#c62828", MARK_HEIGHT),
    ] {
        for (i, &(first, last)) in ranges.iter().enumerate() {
            let (start_s, end_s) = (first as f64 / 4.0, (last + 1) as f64 / 4.0);
            for (row, x0, x1) in layout.spans(start_s, end_s) {
                let y = layout.fhr_top(row) + FHR_HEIGHT - height;
                let _ = writeln!(
                    s,
                    r#"<rect class="{class}" data-i="{i}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{height}" fill="{colour}" fill-opacity="0.8"><title>experts: {} signal {:.0}–{:.0} s</title></rect>"#,
                    (x1 - x0).max(0.5),
                    if class == "label-true" {
                        "true"
                    } else {
                        "false"
                    },
                    start_s,
                    end_s,
                );
            }
        }
    }
}

/// Height of an expert's lane at the foot of a panel, px.
const MARK_HEIGHT: f64 = 12.0;

fn expert_marks(s: &mut String, layout: &Layout, lane: &ExpertLane<'_>, duration_s: f64) {
    for (i, (e, &matched)) in lane.events.iter().zip(lane.matched).enumerate() {
        let (class, colour, letter) = match e.kind {
            EventKind::Acceleration => ("accel", "#009e73", ""),
            EventKind::Contraction => ("contraction", "#cc79a7", ""),
            EventKind::Deceleration => {
                let kind = match e.subtype.as_deref() {
                    Some("early") => DecelerationType::Early,
                    Some("late") => DecelerationType::Late,
                    Some("prolonged") => DecelerationType::Prolonged,
                    _ => DecelerationType::Variable,
                };
                (
                    "decel",
                    type_colour(kind),
                    e.subtype.as_deref().map_or("", |t| &t[..1]),
                )
            }
        };
        let fill = if matched {
            format!(r#"fill="{colour}" fill-opacity="0.85""#)
        } else {
            format!(r#"fill="white" stroke="{colour}" stroke-width="1.5""#)
        };
        let title = format!(
            "expert: {}{} {:.0}–{:.0} s{}{}",
            e.subtype
                .as_deref()
                .map_or(String::new(), |t| format!("{t} ")),
            class,
            e.interval.start,
            e.interval.end,
            if matched {
                ", matched"
            } else {
                ", none of ours matched"
            },
            if e.flagged {
                " (flagged: scored neither way)"
            } else {
                ""
            },
        );
        for (row, x0, x1) in layout.spans(e.interval.start, e.interval.end) {
            let bottom = if e.kind == EventKind::Contraction {
                layout.toco_top(row) + TOCO_HEIGHT
            } else {
                layout.fhr_top(row) + FHR_HEIGHT
            };
            let y = bottom - MARK_HEIGHT;
            let _ = writeln!(
                s,
                r#"<rect class="mark {class}" data-i="{i}" data-matched="{}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{MARK_HEIGHT}" {fill}><title>{}</title></rect>"#,
                if matched { "yes" } else { "no" },
                (x1 - x0).max(0.5),
                escape(&title),
            );
            if !letter.is_empty() && x1 - x0 > 8.0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" font-weight="bold">{}</text>"#,
                    (x0 + x1) / 2.0,
                    y + 9.5,
                    letter.to_uppercase(),
                );
            }
        }
    }
    if lane.annotated_end_s < duration_s {
        for (row, x0, x1) in layout.spans(lane.annotated_end_s, duration_s) {
            let _ = writeln!(
                s,
                r##"<rect class="unannotated" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#000000" fill-opacity="0.06"><title>after the expert's annotated span: not scored</title></rect>"##,
                layout.fhr_top(row),
                (x1 - x0).max(0.5),
                FHR_HEIGHT + GAP + TOCO_HEIGHT,
            );
        }
    }
}

fn legend(s: &mut String) {
    let mut x = LEFT;
    let y = 40.0;
    let mut item = |s: &mut String, colour: &str, label: &str, line: bool| {
        if line {
            let _ = writeln!(
                s,
                r#"<line x1="{x:.0}" x2="{:.0}" y1="{:.0}" y2="{:.0}" stroke="{colour}" stroke-width="2"/>"#,
                x + 18.0,
                y - 4.0,
                y - 4.0
            );
        } else {
            let _ = writeln!(
                s,
                r#"<rect x="{x:.0}" y="{:.0}" width="18" height="10" fill="{colour}" fill-opacity="0.4"/>"#,
                y - 9.0
            );
        }
        let _ = writeln!(s, r#"<text x="{:.0}" y="{y:.0}">{label}</text>"#, x + 22.0);
        x += 30.0 + label.len() as f64 * 6.2;
    };
    item(s, "#000000", "FHR", true);
    item(s, "#0072b2", "baseline", true);
    item(s, "#7b3294", "MHR", true);
    item(s, "#009e73", "acceleration", false);
    for kind in [
        DecelerationType::Early,
        DecelerationType::Late,
        DecelerationType::Variable,
        DecelerationType::Prolonged,
    ] {
        item(s, type_colour(kind), kind.name(), false);
    }
    item(s, "#9e9e9e", "false signal", false);
    item(s, "#cc79a7", "contraction", false);
    let _ = writeln!(
        s,
        r##"<text x="{x:.0}" y="{y:.0}" fill="#555">strip: JSOG level · NICHD category · FIGO per 10 min (grey: too little signal, indicative only); hover for details</text>"##
    );
}

fn grid(s: &mut String, layout: &Layout, row: usize, duration_s: f64) {
    let (top, toco_top) = (layout.fhr_top(row), layout.toco_top(row));
    let x_end = layout.x(
        row,
        ((row as f64 + 1.0) * ROW_MINUTES * 60.0).min(duration_s),
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#e8f5e9"/>"##,
        layout.fhr_y(row, 160.0),
        x_end - LEFT,
        layout.fhr_y(row, 110.0) - layout.fhr_y(row, 160.0),
    );
    let mut bpm = FHR_LOW;
    while bpm <= FHR_HIGH {
        let y = layout.fhr_y(row, bpm);
        let major = (bpm as i64) % 30 == 0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{x_end:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="0.6"/>"##,
            if major { "#bdbdbd" } else { "#eeeeee" }
        );
        if major {
            let _ = writeln!(
                s,
                r##"<text x="{:.0}" y="{:.1}" text-anchor="end" fill="#555">{bpm:.0}</text>"##,
                LEFT - 4.0,
                y + 4.0
            );
        }
        bpm += 10.0;
    }
    for units in [0.0, 50.0, 100.0] {
        let y = layout.toco_y(row, units);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{x_end:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#bdbdbd" stroke-width="0.6"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="{:.1}" text-anchor="end" fill="#555">{units:.0}</text>"##,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let first_minute = row as f64 * ROW_MINUTES;
    for k in 0..=ROW_MINUTES as usize {
        let minute = first_minute + k as f64;
        if minute * 60.0 > duration_s {
            break;
        }
        let x = layout.x(row, minute * 60.0);
        let major = (minute as i64) % 10 == 0;
        let colour = if major { "#9e9e9e" } else { "#eeeeee" };
        for (y0, y1) in [(top, top + FHR_HEIGHT), (toco_top, toco_top + TOCO_HEIGHT)] {
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y0:.1}" y2="{y1:.1}" stroke="{colour}" stroke-width="0.6"/>"#
            );
        }
        if major || k % 2 == 0 {
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{minute:.0}{}</text>"##,
                toco_top + TOCO_HEIGHT + 14.0,
                if major { " min" } else { "" }
            );
        }
    }
}

fn windows(s: &mut String, layout: &Layout, report: &Report) {
    for (i, c) in report.classification.iter().enumerate() {
        let nichd = ["I", "II", "III"]
            .get(usize::from(c.nichd_category.max(1)) - 1)
            .copied()
            .unwrap_or("?");
        let mut label = format!(
            "JSOG {} · NICHD {nichd} · FIGO {}",
            c.jsog_level,
            c.figo.name()
        );
        // Too little trusted signal for the analysis's own event gate: indicative only
        // (clinical.md §4.5), drawn grey.
        let low = c.evidence.low_signal;
        if low {
            label.push_str(&format!(
                " · signal {:.0} %: indicative only",
                c.evidence.signal_percent
            ));
        }
        // A toco that recorded nothing readable for most of the window: its contractions (and
        // so recurrence and typing against them) are unknown there.
        if c.evidence.toco_not_recording() {
            label.push_str(" · toco not recording");
        }
        // A band the window could not measure: the level rests on an earlier window's (or the
        // assumed normal band).
        for (what, source) in c.evidence.unmeasured() {
            label.push_str(&format!(" · {what} {}", source.name()));
        }
        let fill = if low {
            "#e0e0e0"
        } else {
            jsog_colour(c.jsog_level)
        };
        for (row, x0, x1) in layout.spans(c.start_s, c.end_s) {
            let y = layout.row_top(row);
            let _ = writeln!(
                s,
                r##"<rect class="window" data-i="{i}" data-low-signal="{low}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="white"><title>{:.0}–{:.0} min: {}</title></rect>"##,
                (x1 - x0).max(0.5),
                STRIP - 2.0,
                c.start_s / 60.0,
                c.end_s / 60.0,
                escape(&label),
            );
            if x1 - x0 > label.len() as f64 * 6.0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                    x0 + 4.0,
                    y + STRIP - 6.0,
                    escape(&label)
                );
            }
        }
    }
}

fn traces(
    s: &mut String,
    layout: &Layout,
    recording: &Recording,
    report: &Report,
    context: &Context<'_>,
) {
    let heart = |raw: u16| (raw != 0).then(|| f64::from(raw) / 4.0);
    let fetal = recording.samples.iter().map(|sample| {
        let mut raw = sample.value(context.fetal);
        if raw == 0
            && let Some(fallback) = context.fallback
        {
            raw = sample.value(fallback);
        }
        heart(raw)
    });
    let mhr: Vec<Option<f64>> = recording
        .samples
        .iter()
        .map(|sample| heart(sample.value(Channel::Mhr)))
        .collect();
    if mhr.iter().any(Option::is_some) {
        let d = trace(layout, mhr.into_iter(), |row, v| layout.fhr_y(row, v));
        let _ = writeln!(
            s,
            r##"<path class="mhr" d="{d}" fill="none" stroke="#7b3294" stroke-width="0.8"/>"##
        );
    }
    let d = trace(layout, fetal, |row, v| layout.fhr_y(row, v));
    let _ = writeln!(
        s,
        r##"<path class="fhr" d="{d}" fill="none" stroke="#000000" stroke-width="0.8"/>"##
    );
    if !report.baseline_curve.is_empty() {
        let baseline = report
            .baseline_curve
            .iter()
            .map(|&b| (!b.is_nan()).then_some(f64::from(b)));
        let d = trace(layout, baseline, |row, v| layout.fhr_y(row, v));
        let _ = writeln!(
            s,
            r##"<path class="baseline" d="{d}" fill="none" stroke="#0072b2" stroke-width="1.4" stroke-dasharray="6 3"/>"##
        );
    }
    let toco = recording.samples.iter().map(|sample| {
        (sample.quality[Channel::Ua.index()] != Quality::None)
            .then(|| f64::from(sample.value(Channel::Ua)) / 2.0)
    });
    let d = trace(layout, toco, |row, v| layout.toco_y(row, v));
    let _ = writeln!(
        s,
        r##"<path class="toco" d="{d}" fill="none" stroke="#333333" stroke-width="0.8"/>"##
    );
}
