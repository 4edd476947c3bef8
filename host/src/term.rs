//! Terminal output: colour when it is a terminal (and `NO_COLOR` is unset), aligned
//! tables everywhere.

use std::io::IsTerminal;

/// True when stdout should get ANSI colour.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn paint(code: &str, s: &str) -> String {
    if colour() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Green text.
pub fn green(s: &str) -> String {
    paint("32", s)
}
/// Yellow text.
pub fn yellow(s: &str) -> String {
    paint("33", s)
}
/// Red text.
pub fn red(s: &str) -> String {
    paint("31", s)
}
/// Bold text.
pub fn bold(s: &str) -> String {
    paint("1", s)
}
/// Dim text.
pub fn dim(s: &str) -> String {
    paint("2", s)
}

/// Visible width of a string, ignoring ANSI escapes.
fn width(s: &str) -> usize {
    let mut w = 0;
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, _) => w += 1,
        }
    }
    w
}

/// Render rows as an aligned table under a bold header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(widths[i] - width(c) + 2));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|h| bold(h)).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn width_ignores_escapes() {
        assert_eq!(super::width("\x1b[32mok\x1b[0m"), 2);
    }
}
