//! What the host accepts back from a plugin.
//!
//! The SDK's `testing::validate_output` applies the same rules natively so that plugin
//! authors see refusals in `cargo test`; keep the two in step.

use super::types::Output;

/// Longest accepted name (alert, series, check), bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most labels on one subject or series.
pub const MAX_LABELS: usize = 16;

/// Approximate size of an output: string bytes plus 8 bytes per number. Cheap enough to
/// run on every call, close enough to bound what a plugin can make the host hold.
pub fn size_bytes(out: &Output) -> usize {
    let labels = |l: &[(String, String)]| l.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let mut n = 0;
    for a in &out.alerts {
        n += a.name.len() + a.summary.len() + labels(&a.subject) + 8 * (a.validators.len() + 3);
    }
    for s in &out.scores {
        n += s.component.len() + s.window.len() + 8 * (s.validators.len() + s.values.len());
    }
    for s in &out.subject_scores {
        n += s.component.len() + s.window.len() + labels(&s.subject) + 8;
    }
    for r in &out.recommendations {
        n += r.title.len()
            + r.text.len()
            + labels(&r.subject)
            + r.action_id.as_ref().map_or(0, String::len);
    }
    for p in &out.series {
        n += p.name.len() + labels(&p.labels) + 16;
    }
    for c in &out.checks {
        n += c.name.len() + c.text.len() + labels(&c.subject);
    }
    n
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn labels_ok(what: &str, l: &[(String, String)]) -> Result<(), String> {
    if l.len() > MAX_LABELS {
        return Err(format!(
            "{what}: {} labels, the limit is {MAX_LABELS}",
            l.len()
        ));
    }
    if let Some((k, _)) = l.iter().find(|(k, _)| !name_ok(k)) {
        return Err(format!("{what}: label name {k:?} must be snake_case ASCII"));
    }
    Ok(())
}

/// Refuse outputs the rest of the host could not store, route or show.
pub fn validate(out: &Output) -> Result<(), String> {
    for a in &out.alerts {
        if !name_ok(&a.name) {
            return Err(format!(
                "alert name {:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars",
                a.name
            ));
        }
        labels_ok(&format!("alert {}", a.name), &a.subject)?;
        for (what, v) in [("value", a.value), ("threshold", a.threshold)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(format!("alert {}: {what} is not a finite number", a.name));
            }
        }
    }
    for s in &out.scores {
        if s.validators.len() != s.values.len() {
            return Err(format!(
                "scores {}/{}: {} validators but {} values",
                s.component,
                s.window,
                s.validators.len(),
                s.values.len()
            ));
        }
        if let Some(v) = s.values.iter().find(|v| !(0.0..=100.0).contains(*v)) {
            return Err(format!(
                "scores {}/{}: value {v} is outside 0..100",
                s.component, s.window
            ));
        }
    }
    for s in &out.subject_scores {
        labels_ok(&format!("score {}", s.component), &s.subject)?;
        if !(0.0..=100.0).contains(&s.value) {
            return Err(format!(
                "score {}/{}: value {} is outside 0..100",
                s.component, s.window, s.value
            ));
        }
    }
    for p in &out.series {
        if !name_ok(&p.name) {
            return Err(format!(
                "series name {:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars",
                p.name
            ));
        }
        labels_ok(&format!("series {}", p.name), &p.labels)?;
        if !p.value.is_finite() {
            return Err(format!(
                "series {}: value {} is not finite",
                p.name, p.value
            ));
        }
    }
    for c in &out.checks {
        if c.name.is_empty() {
            return Err("a check has an empty name".into());
        }
        labels_ok(&format!("check {}", c.name), &c.subject)?;
    }
    for r in &out.recommendations {
        labels_ok(&format!("recommendation {:?}", r.title), &r.subject)?;
        if let Some(id) = r.action_id.as_deref().filter(|id| !name_ok(id)) {
            return Err(format!(
                "recommendation {:?}: action id {id:?} must be snake_case ASCII",
                r.title
            ));
        }
    }
    Ok(())
}
