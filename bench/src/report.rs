//! Figures as they are measured: aligned text, or one JSON line each with `--json`
//! (`{"name","value","unit"}`), named to read alone.

use vigil::term;

/// One measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// Prints figures as they are measured.
pub(crate) struct Reporter {
    pub(crate) json: bool,
    pub(crate) figures: Vec<Figure>,
}

impl Reporter {
    pub(crate) fn add(&mut self, name: &str, value: f64, unit: &'static str) {
        let f = Figure {
            name: name.to_string(),
            value: (value * 1000.0).round() / 1000.0,
            unit,
        };
        if self.json {
            println!("{}", serde_json::to_string(&f).unwrap_or_default());
        } else {
            println!(
                "{:<40} {:>12} {}",
                f.name,
                format_value(f.value),
                term::dim(unit)
            );
        }
        self.figures.push(f);
    }
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}
