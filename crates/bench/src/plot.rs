//! Line charts as SVG, written by hand (no plotting dependency): the harness draws its own
//! figures so a reader looks instead of reading.

use std::fmt::Write;

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A chart.
pub struct Chart<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Label of the x axis.
    pub x_label: &'a str,
    /// Label of the y axis.
    pub y_label: &'a str,
    /// The lines.
    pub series: Vec<Series>,
    /// A horizontal limit line (a target), with its label.
    pub limit: Option<(f64, &'a str)>,
    /// A logarithmic y axis (decades), for figures spanning orders of magnitude.
    pub log_y: bool,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const COLOURS: [&str; 6] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
];

/// A "nice" step for about `ticks` ticks over `span`.
fn step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the chart; the x axis starts at zero, the y axis too unless it is logarithmic.
pub fn svg(chart: &Chart) -> String {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_max, mut y_min) = (0f64, 0f64, f64::INFINITY);
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            x_max = x_max.max(x);
            y_max = y_max.max(y);
            if y > 0.0 {
                y_min = y_min.min(y);
            }
        }
    }
    if let Some((limit, _)) = chart.limit {
        y_max = y_max.max(limit * 1.1);
        y_min = y_min.min(limit);
    }
    let x_step = step(x_max, 6.0);
    let x_max = (x_max / x_step).ceil().max(1.0) * x_step;
    // Linear: nice steps from 0. Logarithmic: whole decades around the data.
    let (y_low, y_max, y_step) = if chart.log_y {
        let low = 10f64.powf(if y_min.is_finite() {
            y_min.log10().floor()
        } else {
            0.0
        });
        let high = 10f64.powf(y_max.max(low * 10.0).log10().ceil());
        (low, high, 10.0)
    } else {
        let y_step = step(y_max, 6.0);
        (0.0, (y_max / y_step).ceil().max(1.0) * y_step, y_step)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_max * plot_w;
    let log_y = chart.log_y;
    let py = move |y: f64| {
        let fraction = if log_y {
            (y.max(y_low).log10() - y_low.log10()) / (y_max.log10() - y_low.log10())
        } else {
            y / y_max
        };
        TOP + plot_h - fraction * plot_h
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>
"##,
        LEFT + plot_w / 2.0,
        escape(chart.title)
    );
    let mut x = 0.0;
    while x <= x_max + x_step / 2.0 {
        let _ = writeln!(
            out,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#ddd"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">{3}</text>"##,
            px(x),
            TOP + plot_h,
            TOP + plot_h + 16.0,
            x
        );
        x += x_step;
    }
    let mut y = y_low;
    while y <= y_max * 1.0001 + if log_y { 0.0 } else { y_step / 2.0 } {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ddd"/><text x="{2:.1}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            py(y),
            LEFT + plot_w,
            LEFT - 6.0,
            py(y) + 4.0,
            y
        );
        if log_y {
            y *= y_step;
        } else {
            y += y_step;
        }
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>
<text x="{0:.1}" y="{1:.1}" text-anchor="middle">{2}</text>
<text transform="translate(16 {3:.1}) rotate(-90)" text-anchor="middle">{4}</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0,
        escape(chart.x_label),
        TOP + plot_h / 2.0,
        escape(chart.y_label)
    );
    if let Some((limit, label)) = chart.limit {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{2:.1}" y="{3:.1}" fill="#c00">{4}</text>"##,
            py(limit),
            LEFT + plot_w,
            LEFT + plot_w + 8.0,
            py(limit) + 4.0,
            escape(label)
        );
    }
    for (i, series) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
            path.join(" ")
        );
        for point in &path {
            let (cx, cy) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                out,
                r##"<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>"##
            );
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{2:.1}" y2="{1:.1}" stroke="{colour}" stroke-width="2"/><text x="{3:.1}" y="{4:.1}">{5}</text>"##,
            LEFT + plot_w + 8.0,
            ly,
            LEFT + plot_w + 28.0,
            LEFT + plot_w + 32.0,
            ly + 4.0,
            escape(&series.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(step(10_000.0, 6.0), 2000.0);
        assert_eq!(step(47.0, 6.0), 10.0);
        assert_eq!(step(0.9, 6.0), 0.2);
    }

    #[test]
    fn a_chart_has_every_series_and_the_limit() {
        let text = svg(&Chart {
            title: "p99 <latency>",
            x_label: "streams",
            y_label: "ms",
            series: vec![
                Series {
                    name: "p50".into(),
                    points: vec![(1000.0, 1.0), (2000.0, 2.0)],
                },
                Series {
                    name: "p99".into(),
                    points: vec![(1000.0, 10.0), (2000.0, f64::NAN)],
                },
            ],
            limit: Some((50.0, "target 50 ms")),
            log_y: false,
        });
        assert_eq!(text.matches("<polyline").count(), 2);
        assert_eq!(
            text.matches("<circle").count(),
            3,
            "the NaN point is left out"
        );
        assert!(text.contains("target 50 ms"));
        assert!(text.contains("p99 &lt;latency&gt;"));
        assert!(text.starts_with("<svg") && text.ends_with("</svg>\n"));
    }

    #[test]
    fn a_log_axis_has_a_line_per_decade() {
        let text = svg(&Chart {
            title: "t",
            x_label: "x",
            y_label: "y",
            series: vec![Series {
                name: "p99".into(),
                points: vec![(1.0, 2.4), (2.0, 4020.0)],
            }],
            limit: None,
            log_y: true,
        });
        for decade in [">1<", ">10<", ">100<", ">1000<", ">10000<"] {
            assert!(text.contains(decade), "{decade}");
        }
    }
}
