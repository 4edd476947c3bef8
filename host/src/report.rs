//! Period reports: `vigil report --period daily|weekly|monthly --format html|json|csv|md`
//! and `GET /api/v1/reports`.
//!
//! Built from the stored epoch outcomes of the period (every watched validator's rows
//! of every epoch in it: one range scan per epoch) and the current findings. Income is
//! the balance change net of deposits and withdrawals. The HTML report embeds the same
//! SVG charts as the dashboard (one chart module), so it reads offline.

use crate::chart::{Bar, Line, LineChart, XAxis, bar_chart, line_chart};
use crate::findings::Snapshot;
use crate::store::Store;
use crate::view::AlertRow;
use crate::view::html::esc;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The period a report covers, ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub fn parse(s: &str) -> Result<Period, String> {
        match s {
            "daily" | "day" => Ok(Period::Daily),
            "weekly" | "week" => Ok(Period::Weekly),
            "monthly" | "month" => Ok(Period::Monthly),
            other => Err(format!("period {other:?}: use daily, weekly or monthly")),
        }
    }

    pub fn ms(self) -> i64 {
        match self {
            Period::Daily => 86_400_000,
            Period::Weekly => 7 * 86_400_000,
            Period::Monthly => 30 * 86_400_000,
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Csv,
    Md,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "md" | "markdown" => Ok(Format::Md),
            other => Err(format!("format {other:?}: use html, json, csv or md")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Md => "text/markdown; charset=utf-8",
        }
    }
}

/// One validator over the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidatorReport {
    pub index: u64,
    pub status: String,
    pub balance_start_gwei: Option<i64>,
    pub balance_end_gwei: Option<i64>,
    pub income_gwei: Option<i64>,
    pub attestations_included: u64,
    pub attestations_missed: u64,
    pub proposals_assigned: u64,
    pub proposals_made: u64,
    pub proposals_orphaned: u64,
    pub sync_signed: u64,
    pub sync_expected: u64,
    pub effectiveness_percent: Option<f64>,
    pub composite_score_1d_percent: Option<f64>,
}

/// A report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub period: Option<Period>,
    pub generated_ms: i64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub network: String,
    pub first_epoch: Option<u64>,
    pub last_epoch: Option<u64>,
    pub validators: Vec<ValidatorReport>,
    pub total_income_gwei: i64,
    pub attestation_rate_percent: Option<f64>,
    /// `(epoch, sum of balances ETH)`.
    pub balance_by_epoch: Vec<(u64, f64)>,
    pub alerts: Vec<AlertRow>,
}

/// Build the report for `period` ending at `now_ms`.
pub fn build(
    store: &Store,
    snap: &Snapshot,
    alerts: &[AlertRow],
    period: Period,
    now_ms: i64,
) -> Report {
    let mut r = Report {
        period: Some(period),
        generated_ms: now_ms,
        from_ms: now_ms - period.ms(),
        to_ms: now_ms,
        network: snap
            .network
            .as_ref()
            .map_or(String::new(), |n| n.name.clone()),
        alerts: alerts.to_vec(),
        ..Report::default()
    };
    let (Some(net), Some(last), Some(it)) = (&snap.network, snap.epoch, store.current_iteration())
    else {
        return r;
    };
    let epoch_ms = i64::from(net.seconds_per_slot) * i64::from(net.slots_per_epoch) * 1000;
    let genesis_ms = net.genesis_time as i64 * 1000;
    let first = ((r.from_ms - genesis_ms).max(0) / epoch_ms.max(1)) as u64;
    let first = first.min(last);
    r.first_epoch = Some(first);
    r.last_epoch = Some(last);
    let mut per: BTreeMap<u64, ValidatorReport> = BTreeMap::new();
    let mut flows: BTreeMap<u64, i64> = BTreeMap::new();
    let mut delays: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    for epoch in first..=last {
        let rows = match store.outcomes_for_epoch(it.number, epoch) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(epoch, "report: epoch not read: {e}");
                continue;
            }
        };
        let mut total = 0i64;
        for row in rows.iter().filter(|row| {
            snap.validators.is_empty() || snap.validators.contains_key(&row.validator)
        }) {
            let v = per.entry(row.validator).or_insert_with(|| ValidatorReport {
                index: row.validator,
                ..ValidatorReport::default()
            });
            if v.balance_start_gwei.is_none() {
                v.balance_start_gwei = row.balance;
            } else {
                *flows.entry(row.validator).or_default() += row.deposits - row.withdrawals;
            }
            if row.balance.is_some() {
                v.balance_end_gwei = row.balance;
            }
            total += row.balance.unwrap_or(0);
            match row.attested {
                Some(true) => {
                    v.attestations_included += 1;
                    if let (Some(d), Some(e)) = (row.inclusion_delay, row.earliest_inclusion_delay)
                        && d > 0
                    {
                        let x = delays.entry(row.validator).or_default();
                        x.0 += (f64::from(e.max(1)) / f64::from(d)).min(1.0);
                        x.1 += 1;
                    }
                }
                Some(false) => {
                    v.attestations_missed += 1;
                    delays.entry(row.validator).or_default().1 += 1;
                }
                None => {}
            }
            v.proposals_assigned += u64::from(row.proposals_assigned);
            v.proposals_made += u64::from(row.proposals_made);
            v.proposals_orphaned += u64::from(row.proposals_orphaned);
            v.sync_signed += u64::from(row.sync_signed);
            v.sync_expected += u64::from(row.sync_expected);
        }
        if !rows.is_empty() {
            r.balance_by_epoch.push((epoch, total as f64 / 1e9));
        }
    }
    let (mut inc, mut att) = (0u64, 0u64);
    for (i, v) in per.iter_mut() {
        if let (Some(a), Some(b)) = (v.balance_start_gwei, v.balance_end_gwei) {
            let income = b - a - flows.get(i).copied().unwrap_or(0);
            v.income_gwei = Some(income);
            r.total_income_gwei += income;
        }
        v.status = snap
            .validators
            .get(i)
            .map_or("unknown".into(), |x| x.status.clone());
        v.effectiveness_percent = snap.effectiveness(*i).or_else(|| {
            delays
                .get(i)
                .filter(|d| d.1 > 0)
                .map(|d| 100.0 * d.0 / d.1 as f64)
        });
        v.composite_score_1d_percent = snap.score("composite", "1d", *i);
        inc += v.attestations_included;
        att += v.attestations_included + v.attestations_missed;
    }
    r.attestation_rate_percent = (att > 0).then(|| 100.0 * inc as f64 / att as f64);
    r.validators = per.into_values().collect();
    r
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

fn opt1(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.1}"))
}

fn period_name(r: &Report) -> &'static str {
    match r.period {
        Some(Period::Daily) => "daily",
        Some(Period::Weekly) => "weekly",
        Some(Period::Monthly) => "monthly",
        None => "",
    }
}

/// The report in a format.
pub fn render(r: &Report, f: Format) -> String {
    match f {
        Format::Json => serde_json::to_string_pretty(r).unwrap_or_default(),
        Format::Csv => csv(r),
        Format::Md => md(r),
        Format::Html => html(r),
    }
}

const COLUMNS: &str = "validator,status,balance_start_gwei,balance_end_gwei,income_gwei,attestations_included,attestations_missed,proposals_assigned,proposals_made,proposals_orphaned,sync_signed,sync_expected,effectiveness_percent,composite_score_1d_percent";

fn cells(v: &ValidatorReport) -> Vec<String> {
    vec![
        v.index.to_string(),
        v.status.clone(),
        opt(v.balance_start_gwei),
        opt(v.balance_end_gwei),
        opt(v.income_gwei),
        v.attestations_included.to_string(),
        v.attestations_missed.to_string(),
        v.proposals_assigned.to_string(),
        v.proposals_made.to_string(),
        v.proposals_orphaned.to_string(),
        v.sync_signed.to_string(),
        v.sync_expected.to_string(),
        opt1(v.effectiveness_percent),
        opt1(v.composite_score_1d_percent),
    ]
}

fn csv(r: &Report) -> String {
    let mut o = String::from(COLUMNS);
    o.push('\n');
    for v in &r.validators {
        o.push_str(&cells(v).join(","));
        o.push('\n');
    }
    o
}

fn md(r: &Report) -> String {
    let mut o = format!(
        "# Vigil {} report — {}\n\n{} to {} (UTC), epochs {}–{}\n\n- validators: {}\n- income: {:.6} ETH\n- attestations included: {}\n- alerts active: {}\n\n",
        period_name(r),
        r.network,
        crate::view::html::time(r.from_ms),
        crate::view::html::time(r.to_ms),
        opt(r.first_epoch),
        opt(r.last_epoch),
        r.validators.len(),
        r.total_income_gwei as f64 / 1e9,
        r.attestation_rate_percent
            .map_or("–".into(), |x| format!("{x:.2} %")),
        r.alerts.len()
    );
    let cols: Vec<&str> = COLUMNS.split(',').collect();
    let _ = writeln!(o, "| {} |", cols.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(cols.len()));
    for v in &r.validators {
        let _ = writeln!(o, "| {} |", cells(v).join(" | "));
    }
    if !r.alerts.is_empty() {
        o.push_str("\n## Alerts\n\n| severity | alert | summary |\n|---|---|---|\n");
        for a in &r.alerts {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                a.severity,
                a.name,
                a.summary.replace('|', "/")
            );
        }
    }
    o
}

fn html(r: &Report) -> String {
    let mut body = format!(
        "<h1>Vigil {} report — {}</h1><p>{} to {} (UTC), epochs {}–{}. {} validators, income {:.6} ETH, attestations included {}.</p>",
        period_name(r),
        esc(&r.network),
        crate::view::html::time(r.from_ms),
        crate::view::html::time(r.to_ms),
        opt(r.first_epoch),
        opt(r.last_epoch),
        r.validators.len(),
        r.total_income_gwei as f64 / 1e9,
        r.attestation_rate_percent
            .map_or("–".into(), |x| format!("{x:.2} %"))
    );
    body.push_str(&line_chart(&LineChart {
        title: "Total balance".into(),
        unit: "ETH".into(),
        x: XAxis::Number("epoch"),
        lines: vec![Line::new(
            "balance",
            r.balance_by_epoch
                .iter()
                .map(|(e, b)| (*e as f64, *b))
                .collect(),
        )],
        bands: vec![],
        y_range: None,
    }));
    let bars: Vec<Bar> = r
        .validators
        .iter()
        .take(50)
        .map(|v| Bar {
            label: format!("validator {}", v.index),
            value: v.income_gwei.unwrap_or(0) as f64,
            reference: false,
        })
        .collect();
    body.push_str(&bar_chart(
        "Income by validator (first 50)",
        "gwei",
        &bars,
        None,
    ));
    body.push_str("<table><tr>");
    for c in COLUMNS.split(',') {
        let _ = write!(body, "<th>{}</th>", esc(c));
    }
    body.push_str("</tr>");
    for v in &r.validators {
        body.push_str("<tr>");
        for c in cells(v) {
            let _ = write!(body, "<td>{}</td>", esc(&c));
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    if !r.alerts.is_empty() {
        body.push_str("<h2>Alerts</h2><ul>");
        for a in &r.alerts {
            let _ = write!(
                body,
                "<li>{} {}: {}</li>",
                esc(&a.severity),
                esc(&a.name),
                esc(&a.summary)
            );
        }
        body.push_str("</ul>");
    }
    crate::view::html::page("Report", "", None, false, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_formats_parse_with_guidance() {
        assert_eq!(Period::parse("weekly"), Ok(Period::Weekly));
        assert!(
            Period::parse("hourly")
                .unwrap_err()
                .contains("daily, weekly or monthly")
        );
        assert_eq!(Format::parse("md"), Ok(Format::Md));
        assert!(Format::parse("pdf").is_err());
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_validator() {
        let r = Report {
            validators: vec![ValidatorReport {
                index: 6,
                income_gwei: Some(-1200),
                ..ValidatorReport::default()
            }],
            ..Report::default()
        };
        let c = render(&r, Format::Csv);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("6,,,,-1200,"));
        assert!(render(&r, Format::Html).contains("<svg"));
        assert!(render(&r, Format::Md).contains("| 6 |"));
    }
}
