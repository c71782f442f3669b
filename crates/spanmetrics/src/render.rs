//! Prometheus text exposition (format 0.0.4) of counters and classic histograms.

use std::fmt::Write;

use crate::histogram::Histogram;

/// Writes `# HELP` and `# TYPE` lines.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line: `name{labels} value`.
pub(crate) fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    write_labels(out, labels, None);
    let _ = writeln!(out, " {}", number(value));
}

/// Writes the `_bucket` (cumulative, with `le`), `_sum` and `_count` lines of one
/// histogram series.
pub(crate) fn histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    bounds: &[f64],
    histogram: &Histogram,
) {
    let mut cumulative = 0u64;
    for (index, count) in histogram.counts.iter().enumerate() {
        cumulative += count;
        let le = bounds
            .get(index)
            .map_or_else(|| String::from("+Inf"), |bound| number(*bound));
        let _ = write!(out, "{name}_bucket");
        write_labels(out, labels, Some(("le", &le)));
        let _ = writeln!(out, " {cumulative}");
    }
    sample(out, &format!("{name}_sum"), labels, histogram.sum);
    sample(
        out,
        &format!("{name}_count"),
        labels,
        histogram.count as f64,
    );
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    for (index, (name, value)) in labels.iter().chain(extra.iter()).enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape(out, value);
        out.push('"');
    }
    out.push('}');
}

/// Label values escape backslash, double quote and line feed.
fn escape(out: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// A number as Prometheus writes it: integers without a fraction, `+Inf`, `NaN`.
fn number(value: f64) -> String {
    if value.is_nan() {
        String::from("NaN")
    } else if value.is_infinite() {
        String::from(if value > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let bounds = [0.5, 1.0];
        let mut values = Histogram::new(&bounds);
        for value in [0.25, 0.75, 3.0] {
            values.observe(&bounds, value);
        }
        let mut out = String::new();
        histogram(
            &mut out,
            "m",
            &[("service", "a\"b\\c\nd")],
            &bounds,
            &values,
        );
        assert_eq!(
            out,
            "m_bucket{service=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 1\n\
             m_bucket{service=\"a\\\"b\\\\c\\nd\",le=\"1\"} 2\n\
             m_bucket{service=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\n\
             m_sum{service=\"a\\\"b\\\\c\\nd\"} 4\n\
             m_count{service=\"a\\\"b\\\\c\\nd\"} 3\n"
        );
    }
}
