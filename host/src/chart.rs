//! Charts as self-contained SVG, rendered on the server.
//!
//! One module for the dashboard, `vigil report` and notification e-mails: the same
//! picture everywhere, no JavaScript, no fonts or files to fetch (an e-mail client or a
//! report opened offline shows it as is). Colours are inline so a chart copied out of
//! a page keeps them.

use std::fmt::Write;

/// Plot area size and margins, px.
const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 32.0;

/// Line colours, colour-blind safe (Okabe-Ito).
pub const PALETTE: [&str; 6] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
];

/// How to label the x axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// x is Unix ms; ticks as UTC dates/times.
    Time,
    /// x is a plain number (an epoch, a slot), labelled with this name.
    Number(&'static str),
}

/// One line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            name: name.into(),
            points,
            dashed: false,
        }
    }

    pub fn dashed(mut self) -> Line {
        self.dashed = true;
        self
    }
}

/// A shaded range between two lines sharing x values (a projection's low/high band).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    /// `(x, low, high)`.
    pub points: Vec<(f64, f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    /// Unit of the y values, shown on the axis ("ETH", "%").
    pub unit: String,
    pub x: XAxis,
    pub lines: Vec<Line>,
    pub bands: Vec<Band>,
    /// Force the y range (e.g. 0..100 for percentages).
    pub y_range: Option<(f64, f64)>,
}

/// Escape text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A value with few digits for an axis label.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// A tick label with just enough decimals for ticks `step` apart.
fn tick_label(v: f64, step: f64) -> String {
    if step >= 1.0 || !step.is_finite() || step <= 0.0 {
        return short(v);
    }
    let decimals = (-step.log10()).ceil().max(0.0) as usize
        + usize::from(step * 10f64.powf((-step.log10()).ceil()) % 1.0 != 0.0);
    format!("{v:.decimals$}")
}

/// "Nice" tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::EPSILON);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 20 {
        out.push(t);
        t += step;
    }
    out
}

/// UTC "MM-DD HH:MM" (or "HH:MM:SS" for short spans) of Unix ms.
pub fn utc(ms: f64, span_ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (_, mo, d) = civil(days);
    if span_ms < 3_600_000.0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if span_ms < 2.0 * 86_400_000.0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{mo:02}-{d:02}")
    }
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn header(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11"><title>{t}</title><text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#222">{t}</text>"##,
        t = esc(title)
    );
}

/// A line chart with optional bands; an empty chart says "no data yet".
pub fn line_chart(c: &LineChart) -> String {
    let mut out = String::new();
    header(&mut out, &c.title, H);
    let xs = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(c.bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)));
    let ys = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(
            c.bands
                .iter()
                .flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2])),
        );
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs.filter(|x| x.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
    }
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for y in ys.filter(|y| y.is_finite()) {
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() || !y0.is_finite() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" fill="#777" text-anchor="middle">no data yet</text></svg>"##,
            W / 2.0,
            H / 2.0
        );
        return out;
    }
    if let Some((a, b)) = c.y_range {
        y0 = y0.min(a);
        y1 = y1.max(b);
    } else {
        let pad = ((y1 - y0) * 0.08).max(y1.abs() * 1e-6).max(1e-9);
        y0 -= pad;
        y1 += pad;
    }
    if x1 <= x0 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - (y - y0) / (y1 - y0) * ph;
    // Grid and y labels.
    let yt = ticks(y0, y1, 4);
    let ystep = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
    for t in yt {
        let y = sy(t);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&tick_label(t, ystep))
        );
    }
    let _ = write!(
        out,
        r##"<text x="12" y="{:.1}" fill="#555" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(&c.unit)
    );
    for t in ticks(x0, x1, 5) {
        let x = sx(t);
        let label = match c.x {
            XAxis::Time => utc(t, x1 - x0),
            XAxis::Number(_) => short(t),
        };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#bbb"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP + ph,
            TOP + ph + 4.0,
            TOP + ph + 16.0,
            esc(&label)
        );
    }
    let xname = match c.x {
        XAxis::Time => "time (UTC)",
        XAxis::Number(n) => n,
    };
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#777">{}</text>"##,
        W - RIGHT,
        H - 4.0,
        esc(xname)
    );
    for (i, b) in c.bands.iter().enumerate() {
        if b.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (j, p) in b.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { "L" },
                sx(p.0),
                sy(p.2)
            );
        }
        for p in b.points.iter().rev() {
            let _ = write!(d, "L{:.1},{:.1}", sx(p.0), sy(p.1));
        }
        let _ = write!(
            out,
            r#"<path d="{d}Z" fill="{}" fill-opacity="0.18" stroke="none"><title>{}</title></path>"#,
            PALETTE[(i + 4) % PALETTE.len()],
            esc(&b.name)
        );
    }
    for (i, l) in c.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        for (j, p) in l.points.iter().filter(|p| p.1.is_finite()).enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { "L" },
                sx(p.0),
                sy(p.1)
            );
        }
        let dash = if l.dashed {
            r#" stroke-dasharray="5 4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<path class="line" d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}><title>{}</title></path>"#,
            esc(&l.name)
        );
        if l.points.len() == 1 {
            let p = l.points[0];
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                sx(p.0),
                sy(p.1)
            );
        }
        // Legend, right of the title.
        let lx = LEFT + 12.0 + c.title.chars().count() as f64 * 7.5 + i as f64 * 150.0;
        let _ = write!(
            out,
            r##"<rect x="{lx:.1}" y="8" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="17" fill="#333">{}</text>"##,
            lx + 14.0,
            esc(&l.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Drawn highlighted (e.g. the network average).
    pub reference: bool,
}

/// Horizontal bars with values, e.g. a score per client against the network average.
pub fn bar_chart(title: &str, unit: &str, bars: &[Bar], max: Option<f64>) -> String {
    let row = 22.0;
    let height = TOP + 8.0 + bars.len().max(1) as f64 * row;
    let mut out = String::new();
    header(&mut out, title, height);
    if bars.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" fill="#777" text-anchor="middle">no data yet</text></svg>"##,
            W / 2.0,
            TOP + 12.0
        );
        return out;
    }
    let top = max
        .unwrap_or_else(|| bars.iter().map(|b| b.value).fold(0.0, f64::max))
        .max(f64::EPSILON);
    let label_w = 170.0;
    let pw = W - label_w - RIGHT - 70.0;
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + i as f64 * row;
        let w = (b.value.max(0.0) / top * pw).min(pw);
        let colour = if b.reference { "#777" } else { PALETTE[0] };
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text><rect x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="#333">{} {}</text>"##,
            label_w - 6.0,
            y + 14.0,
            esc(&b.label),
            y + 3.0,
            row - 6.0,
            label_w + w + 4.0,
            y + 14.0,
            esc(&short(b.value)),
            esc(unit)
        );
    }
    out.push_str("</svg>");
    out
}

/// A histogram of values in `[lo, hi]` with `bins` bins (values outside are clamped).
pub fn histogram(title: &str, unit: &str, values: &[f64], lo: f64, hi: f64, bins: usize) -> String {
    let bins = bins.max(1);
    let mut counts = vec![0usize; bins];
    for v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - lo) / (hi - lo)) * bins as f64).floor();
        counts[(i.max(0.0) as usize).min(bins - 1)] += 1;
    }
    let mut out = String::new();
    header(&mut out, title, H);
    if values.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" fill="#777" text-anchor="middle">no data yet</text></svg>"##,
            W / 2.0,
            H / 2.0
        );
        return out;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let bw = pw / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let h = *c as f64 / top * ph;
        let x = LEFT + i as f64 * bw;
        let from = lo + (hi - lo) * i as f64 / bins as f64;
        let to = lo + (hi - lo) * (i + 1) as f64 / bins as f64;
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} – {} {}: {c}</title></rect>"##,
            x + 1.0,
            TOP + ph - h,
            (bw - 2.0).max(1.0),
            PALETTE[0],
            short(from),
            short(to),
            esc(unit)
        );
    }
    for t in ticks(lo, hi, 5) {
        let x = LEFT + (t - lo) / (hi - lo) * pw;
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP + ph + 16.0,
            esc(&short(t))
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#777">{} (validators per bin, most: {})</text></svg>"##,
        W - RIGHT,
        H - 4.0,
        esc(unit),
        top as usize
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_draws_each_series_and_escapes_names() {
        let svg = line_chart(&LineChart {
            title: "Balance <validator 6>".into(),
            unit: "ETH".into(),
            x: XAxis::Number("epoch"),
            lines: vec![Line::new(
                "v6",
                vec![(1.0, 32.0), (2.0, 31.99), (3.0, 31.98)],
            )],
            bands: vec![Band {
                name: "band".into(),
                points: vec![(3.0, 31.0, 33.0), (4.0, 30.0, 34.0)],
            }],
            y_range: None,
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Balance &lt;validator 6&gt;"));
        assert_eq!(svg.matches(r#"class="line""#).count(), 1);
        assert!(svg.contains("fill-opacity"));
        // The falling line: its last point is lower on the page (larger y) than its first.
        let d = svg.split(r#"class="line" d=""#).nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        let ys: Vec<f64> = d
            .split(['M', 'L'])
            .filter(|s| !s.is_empty())
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(ys[2] > ys[0], "{d}");
    }

    #[test]
    fn empty_charts_say_so_and_ticks_are_round() {
        let svg = line_chart(&LineChart {
            title: "t".into(),
            unit: "%".into(),
            x: XAxis::Time,
            lines: vec![],
            bands: vec![],
            y_range: Some((0.0, 100.0)),
        });
        assert!(svg.contains("no data yet"));
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(tick_label(32.035, 0.005), "32.035");
        assert_eq!(tick_label(32.04, 0.01), "32.04");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_000), (2024, 10, 4));
        let h = histogram("scores", "%", &[10.0, 95.0, 99.0, 100.0], 0.0, 100.0, 10);
        assert_eq!(h.matches("<rect").count(), 10);
        assert!(h.contains("most: 3"));
        let b = bar_chart(
            "by client",
            "%",
            &[Bar {
                label: "lighthouse".into(),
                value: 97.5,
                reference: false,
            }],
            Some(100.0),
        );
        assert!(b.contains("lighthouse") && b.contains("97.50 %"));
    }
}
