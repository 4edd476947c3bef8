//! Clients' Prometheus `/metrics`: fetched over HTTP and parsed into the contract's
//! columnar [`MetricFamilySamples`]. What a metric means is for plugins to know; this
//! module only reads the text faithfully.
//!
//! ## The format read
//! Prometheus text exposition 0.0.4 (what every Ethereum client serves): `#` lines
//! (`HELP`, `TYPE`, comments) are skipped; a sample is
//! `name{label="value",…} value [timestamp]` with `\\`, `\"` and `\n` escapes in label
//! values, `NaN`, `+Inf` and `-Inf` values, `\n` or `\r\n` line ends, blank lines
//! anywhere. Histogram and summary series (`_bucket{le=…}`, `_sum`, `_count`,
//! `{quantile=…}`) are kept as ordinary samples, as Prometheus stores them. Timestamps
//! and OpenMetrics exemplars are read and dropped: the host stamps the tick's time.
//!
//! ## Malformed lines
//! A bad line is skipped and counted, not fatal: one odd metric from a client update
//! must not blind every check that reads the other thousands. [`parse_exposition`]
//! logs a warning with the count and the first bad line (number and text); callers
//! that want the count use [`parse_exposition_report`]. The whole text is rejected
//! only when it is not an exposition at all, i.e. bad lines outnumber samples (an HTML
//! error page, JSON, a binary body), or when it holds more than [`MAX_SAMPLES`].
//!
//! No crate was a fit: `prometheus-parse` splits labels on `,` and `=` (a value
//! holding either, or an escaped quote, comes out wrong), drops bad lines silently and
//! regroups histograms; `openmetrics-parser` is LGPL-3.0 and strict OpenMetrics.

use crate::contract::MetricFamilySamples;
use crate::net::{self as http, HttpError};
use std::time::Duration;

/// Largest `/metrics` body read. Lodestar's beacon node serves ~0.3 MB; a client with
/// per-validator series for thousands of keys serves tens of MB. Beyond this, the URL
/// is wrong or the client is misconfigured.
pub const MAX_METRICS_BYTES: usize = 32 * 1024 * 1024;

/// Most samples kept from one scrape: each costs its name, labels and value in every
/// tick handed to plugins. A body beyond this is rejected whole, never truncated to
/// an arbitrary subset.
pub const MAX_SAMPLES: usize = 250_000;

/// How much of a bad line is quoted in messages.
const QUOTED_LINE_CHARS: usize = 120;

/// What a scrape asks for: the text format, not protobuf or OpenMetrics.
const ACCEPT: &str = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1";

/// One line that is not a valid sample, comment or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// The line, cut to a readable length.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Why a text was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// More bad lines than samples: this is not Prometheus text.
    #[error("not Prometheus text: {bad} malformed lines and {samples} samples; first {first}")]
    NotExposition {
        bad: usize,
        samples: usize,
        first: LineError,
    },
    /// More samples than [`MAX_SAMPLES`].
    #[error("more than {limit} samples; is per-validator output enabled for thousands of keys?")]
    TooManySamples { limit: usize },
}

/// Why a scrape gave no samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    /// Timed out, refused, an HTTP error status, too large…
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The body is not UTF-8.
    #[error("metrics from {url} are not text: {reason}")]
    NotText { url: String, reason: String },
    /// The body is not an exposition.
    #[error("metrics from {url} rejected: {error}")]
    Parse { url: String, error: ParseError },
}

/// The samples of one text, with the lines that were skipped.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub samples: MetricFamilySamples,
    /// How many lines were skipped as malformed.
    pub skipped: usize,
    /// The first skipped line, for the warning.
    pub first_skipped: Option<LineError>,
}

/// Fetches `url` and parses it as `target`'s samples. Bad lines are skipped with a
/// warning (see the module doc); the request is bounded by [`http::REQUEST_TIMEOUT`]
/// and [`MAX_METRICS_BYTES`].
pub async fn scrape(
    target: &str,
    url: &str,
    http: &reqwest::Client,
) -> Result<MetricFamilySamples, ScrapeError> {
    scrape_with_timeout(target, url, http, http::REQUEST_TIMEOUT).await
}

/// [`scrape`] with another deadline.
pub async fn scrape_with_timeout(
    target: &str,
    url: &str,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<MetricFamilySamples, ScrapeError> {
    let shown = http::redact_url(url);
    let request = http.get(url).header(reqwest::header::ACCEPT, ACCEPT);
    let answer = http::exchange(request, &shown, timeout, MAX_METRICS_BYTES).await?;
    if !answer.status.is_success() {
        return Err(http::status_error(&shown, &answer).into());
    }
    let text = std::str::from_utf8(&answer.body).map_err(|e| ScrapeError::NotText {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    parse_exposition(target, text).map_err(|error| ScrapeError::Parse { url: shown, error })
}

/// Parses exposition text as `target`'s samples; bad lines are skipped with a warning.
pub fn parse_exposition(target: &str, text: &str) -> Result<MetricFamilySamples, ParseError> {
    let report = parse_exposition_report(target, text)?;
    if let Some(first) = &report.first_skipped {
        tracing::warn!(
            target_name = target,
            "skipped {} malformed metrics lines of {target}, first {first}",
            report.skipped
        );
    }
    Ok(report.samples)
}

/// Parses exposition text, reporting skipped lines instead of logging them.
pub fn parse_exposition_report(target: &str, text: &str) -> Result<Exposition, ParseError> {
    let mut samples = MetricFamilySamples {
        target: target.to_owned(),
        names: Vec::new(),
        labels: Vec::new(),
        values: Vec::new(),
    };
    let mut skipped = 0;
    let mut first_skipped = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.trim_end_matches([' ', '\t']).is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_sample(trimmed) {
            Ok((name, labels, value)) => {
                if samples.values.len() == MAX_SAMPLES {
                    return Err(ParseError::TooManySamples { limit: MAX_SAMPLES });
                }
                samples.names.push(name);
                samples.labels.push(labels);
                samples.values.push(value);
            }
            Err(reason) => {
                skipped += 1;
                first_skipped.get_or_insert_with(|| LineError {
                    line: i + 1,
                    text: quote(line),
                    reason,
                });
            }
        }
    }
    if let Some(first) = &first_skipped
        && skipped > samples.values.len()
    {
        return Err(ParseError::NotExposition {
            bad: skipped,
            samples: samples.values.len(),
            first: first.clone(),
        });
    }
    Ok(Exposition {
        samples,
        skipped,
        first_skipped,
    })
}

/// A bad line for a message: cut, with control characters shown escaped.
fn quote(line: &str) -> String {
    let mut out: String = line.chars().take(QUOTED_LINE_CHARS).collect();
    if line.chars().nth(QUOTED_LINE_CHARS).is_some() {
        out.push('…');
    }
    out.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

type Sample = (String, Vec<(String, String)>, f64);

/// One sample line, leading blanks removed.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut cur = Cursor { rest: line };
    let name = cur
        .take_name(true)
        .ok_or("expected a metric name at the start")?
        .to_owned();
    let mut labels: Vec<(String, String)> = Vec::new();
    // Blanks may stand between the name and its labels, as Prometheus reads it.
    let mut blank = cur.skip_blanks();
    if cur.eat('{') {
        loop {
            cur.skip_blanks();
            if cur.eat('}') {
                break;
            }
            let label = cur
                .take_name(false)
                .ok_or("expected a label name or '}'")?
                .to_owned();
            cur.skip_blanks();
            if !cur.eat('=') {
                return Err(format!("expected '=' after label {label}"));
            }
            cur.skip_blanks();
            let value = cur.take_quoted()?;
            if labels.iter().any(|(l, _)| *l == label) {
                return Err(format!("label {label} appears twice"));
            }
            labels.push((label, value));
            cur.skip_blanks();
            if cur.eat(',') {
                continue;
            }
            if cur.eat('}') {
                break;
            }
            return Err("expected ',' or '}' after a label".to_owned());
        }
        blank = cur.skip_blanks();
    }
    if !blank {
        return Err("expected a blank before the value".to_owned());
    }
    let value_text = cur.take_word().ok_or("expected a value")?;
    let value = parse_value(value_text)?;
    cur.skip_blanks();
    if let Some(ts) = cur.take_word() {
        if ts == "#" {
            // An OpenMetrics exemplar follows: not ours to keep.
            return Ok((name, labels, value));
        }
        ts.parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(|| format!("timestamp {ts} is not a number"))?;
        cur.skip_blanks();
        if let Some(extra) = cur.take_word()
            && extra != "#"
        {
            return Err(format!("unexpected {extra} after the timestamp"));
        }
    }
    Ok((name, labels, value))
}

/// Sample values as Go's `ParseFloat` reads them (what Prometheus does): decimals,
/// exponents, `NaN`, `Inf` with an optional sign, in any case.
fn parse_value(s: &str) -> Result<f64, String> {
    // Rust also takes "infinity"/"nan" in any case, as Go does; it refuses '_', as Go
    // does for decimal text.
    s.parse::<f64>()
        .map_err(|_| format!("value {s} is not a number"))
}

/// A position in one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// Skips spaces and tabs; true when there were some.
    fn skip_blanks(&mut self) -> bool {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches([' ', '\t']);
        self.rest.len() != before
    }

    /// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without colons, a label name.
    fn take_name(&mut self, colons: bool) -> Option<&'a str> {
        let ok = |c: char, first: bool| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (!first && c.is_ascii_digit())
        };
        let mut chars = self.rest.char_indices();
        match chars.next() {
            Some((_, c)) if ok(c, true) => {}
            _ => return None,
        }
        let end = chars
            .find(|(_, c)| !ok(*c, false))
            .map_or(self.rest.len(), |(i, _)| i);
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(name)
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes.
    fn take_quoted(&mut self) -> Result<String, String> {
        if !self.eat('"') {
            return Err("expected '\"' to open a label value".to_owned());
        }
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, other)) => {
                        return Err(format!("invalid escape \\{other} in a label value"));
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("label value is not closed with '\"'".to_owned())
    }

    /// Text up to the next blank or the end.
    fn take_word(&mut self) -> Option<&'a str> {
        let end = self.rest.find([' ', '\t']).unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Exposition {
        parse_exposition_report("t", text).unwrap()
    }

    fn label<'a>(s: &'a MetricFamilySamples, i: usize, name: &str) -> Option<&'a str> {
        s.labels[i]
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn samples_comments_and_blank_lines() {
        let text = "# HELP up Whether up.\n# TYPE up gauge\n\nup 1\n  \n# a comment\nhttp_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\nx:y_z 3e-2\n";
        let e = parse(text);
        let s = &e.samples;
        assert_eq!(e.skipped, 0);
        assert_eq!(s.target, "t");
        assert_eq!(s.names, ["up", "http_requests_total", "x:y_z"]);
        assert_eq!(s.values, [1.0, 1027.0, 0.03]);
        assert!(s.labels[0].is_empty());
        assert_eq!(
            s.labels[1],
            [
                ("method".into(), "post".into()),
                ("code".into(), "200".into())
            ]
        );
    }

    #[test]
    fn escapes_in_label_values() {
        let e = parse(
            r#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\"",odd="a,b=c}"} 1.458255915e9"#,
        );
        let s = &e.samples;
        assert_eq!(label(s, 0, "path"), Some(r"C:\DIR\FILE.TXT"));
        assert_eq!(
            label(s, 0, "error"),
            Some("Cannot find file:\n\"FILE.TXT\"")
        );
        assert_eq!(label(s, 0, "odd"), Some("a,b=c}"));
        assert_eq!(s.values, [1.458255915e9]);
    }

    #[test]
    fn special_values_timestamps_and_windows_line_ends() {
        let e = parse(
            "a NaN\r\nb  {x=\"1\"}\t+Inf\r\nc -Inf\r\nd{x=\"1\",} 2 -1000\r\ne{ x = \"1\" , y=\"2\" } 3\r\nf 4 # {trace_id=\"1\"} 1\r\n",
        );
        let v = &e.samples.values;
        assert_eq!(e.skipped, 0, "{:?}", e.first_skipped);
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], [f64::INFINITY, f64::NEG_INFINITY, 2.0, 3.0, 4.0]);
        assert_eq!(label(&e.samples, 3, "x"), Some("1"));
        assert_eq!(label(&e.samples, 4, "y"), Some("2"));
    }

    #[test]
    fn histograms_and_summaries_stay_ordinary_samples() {
        let text = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n# TYPE s summary\ns{quantile=\"0.99\"} 2\ns_sum 9\ns_count 4\n";
        let s = parse(text).samples;
        assert_eq!(
            s.names,
            [
                "h_bucket", "h_bucket", "h_sum", "h_count", "s", "s_sum", "s_count"
            ]
        );
        assert_eq!(label(&s, 1, "le"), Some("+Inf"));
        assert_eq!(label(&s, 4, "quantile"), Some("0.99"));
    }

    #[test]
    fn bad_lines_are_skipped_and_reported() {
        let text = "good 1\nbad line here\nalso_good{a=\"b\"} 2\nnot_a_number abc\nok 3\n";
        let e = parse(text);
        assert_eq!(e.samples.names, ["good", "also_good", "ok"]);
        assert_eq!(e.skipped, 2);
        let first = e.first_skipped.unwrap();
        assert_eq!(first.line, 2);
        assert_eq!(
            first.to_string(),
            "line 2: value line is not a number: bad line here"
        );
    }

    #[test]
    fn each_kind_of_bad_line_names_its_fault() {
        for (line, reason) in [
            ("1abc 1", "expected a metric name at the start"),
            ("m{a=\"x\" 1", "expected ',' or '}' after a label"),
            ("m{a=x} 1", "expected '\"' to open a label value"),
            ("m{a=\"x} 1", "label value is not closed with '\"'"),
            ("m{a=\"\\t\"} 1", "invalid escape \\t in a label value"),
            ("m{a=\"1\",a=\"2\"} 1", "label a appears twice"),
            ("m{a} 1", "expected '=' after label a"),
            ("m", "expected a blank before the value"),
            ("m 1 2 3", "unexpected 3 after the timestamp"),
            ("m 1 soon", "timestamp soon is not a number"),
            ("m 1_000", "value 1_000 is not a number"),
            ("m{a=\"1\"}2", "expected a blank before the value"),
            ("m-1", "expected a blank before the value"),
            ("m ", "expected a value"),
        ] {
            let e = parse(&format!("ok 1\nok 2\n{line}\n"));
            assert_eq!(e.skipped, 1, "{line}");
            assert_eq!(e.first_skipped.unwrap().reason, reason, "{line}");
        }
    }

    #[test]
    fn text_that_is_not_an_exposition_is_rejected() {
        let html =
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n";
        let err = parse_exposition_report("t", html).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not Prometheus text: 4 malformed lines and 0 samples; first line 1: expected a metric name at the start: <html>"
        );
        assert!(parse_exposition("t", "").unwrap().names.is_empty());
    }

    #[test]
    fn too_many_samples_are_refused() {
        let text = "m 1\n".repeat(MAX_SAMPLES + 1);
        assert_eq!(
            parse_exposition_report("t", &text).unwrap_err(),
            ParseError::TooManySamples { limit: MAX_SAMPLES }
        );
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/fixtures/metrics/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap()
    }

    fn find(s: &MetricFamilySamples, name: &str) -> Vec<usize> {
        (0..s.names.len()).filter(|i| s.names[*i] == name).collect()
    }

    /// A real Lodestar v1.22.0 beacon node's `/metrics`, slot 49 of a dev chain.
    #[test]
    fn lodestar_beacon_node() {
        let e = parse_exposition_report("beacon", &fixture("lodestar-beacon.txt")).unwrap();
        assert_eq!(e.skipped, 0, "{:?}", e.first_skipped);
        let s = &e.samples;
        assert_eq!(s.names.len(), 2748);
        assert_eq!(s.labels.len(), 2748);
        let head = find(s, "beacon_head_slot");
        assert_eq!(head.len(), 1);
        assert_eq!(s.values[head[0]], 49.0);
        let peers = find(s, "libp2p_peers");
        assert_eq!(s.values[peers[0]], 0.0);
        // A label value with a space.
        let conns = find(s, "libp2p_connection_manager_connections");
        assert!(conns.iter().any(|i| {
            label(s, *i, "libp2p_connection_manager_connections") == Some("inbound pending")
        }));
        // Histogram buckets, +Inf included.
        let buckets = find(s, "lodestar_api_rest_response_time_seconds_bucket");
        assert!(buckets.iter().any(|i| label(s, *i, "le") == Some("+Inf")
            && label(s, *i, "operationId") == Some("getPeerCount")));
    }

    /// A real Lodestar v1.22.0 validator client's `/metrics` (the one holding keys 0..5).
    #[test]
    fn lodestar_validator_client() {
        let e = parse_exposition_report("validator-a", &fixture("lodestar-validator.txt")).unwrap();
        assert_eq!(e.skipped, 0, "{:?}", e.first_skipped);
        let s = &e.samples;
        assert_eq!(s.names.len(), 567);
        // Validator client A holds keys 0..5.
        assert_eq!(s.values[find(s, "vc_indices_count")[0]], 6.0);
        assert_eq!(find(s, "vc_block_published_total").len(), 1);
    }
}
