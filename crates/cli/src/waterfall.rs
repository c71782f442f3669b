//! Text rendering of one trace as an indented waterfall.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use weft_model::{Span, SpanId};

/// Width of the timeline bar in characters.
const BAR_WIDTH: usize = 40;

/// `1.234s`, `12.3ms`, `456µs`, `789ns`.
pub fn format_duration(nanos: u64) -> String {
    match nanos {
        n if n >= 1_000_000_000 => format!("{:.3}s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}ms", n as f64 / 1e6),
        n if n >= 1_000 => format!("{}µs", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// `2026-11-21 19:26:19.123` (UTC) from nanoseconds since the epoch.
pub fn format_timestamp(unix_nanos: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos);
    // humantime prints `2026-11-21T19:26:19.123Z`.
    let text = humantime::format_rfc3339_millis(time).to_string();
    text.trim_end_matches('Z').replacen('T', " ", 1)
}

/// How [`render`] marks the spans on the critical path.
#[derive(Debug, Clone, Default)]
pub struct CriticalPathMarks {
    /// Ids of the spans with time on the critical path.
    pub span_ids: HashSet<SpanId>,
    /// Also draw their lines bold and red (ANSI), for a terminal.
    pub colour: bool,
}

/// The marker in the first column of a span on the critical path.
pub const CRITICAL_MARKER: char = '*';

/// Renders `spans` as a tree: children under parents ordered by start, each line with
/// a marker column ([`CRITICAL_MARKER`] for spans in `marks`), a timeline bar, offset
/// from the trace start, duration, service and name. Spans whose parent is missing are
/// shown as roots.
pub fn render(spans: &[Span], marks: &CriticalPathMarks) -> String {
    let mut out = String::new();
    if spans.is_empty() {
        out.push_str("trace has no spans\n");
        return out;
    }
    let trace_start = spans
        .iter()
        .filter(|span| span.start_unix_nanos > 0)
        .map(|span| span.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let trace_end = spans
        .iter()
        .map(Span::end_unix_nanos)
        .max()
        .unwrap_or(trace_start);
    let trace_duration = trace_end.saturating_sub(trace_start).max(1);

    let present: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<usize>> = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        let parent = span
            .parent_span_id
            .filter(|parent| present.contains(parent) && *parent != span.span_id);
        children.entry(parent).or_default().push(index);
    }
    for list in children.values_mut() {
        list.sort_by_key(|&index| (spans[index].start_unix_nanos, spans[index].name.clone()));
    }
    let services: HashSet<&str> = spans.iter().filter_map(Span::service_name).collect();
    let _ = writeln!(
        out,
        "trace {}  {} spans, {} services, {}  started {}",
        spans[0].trace_id,
        spans.len(),
        services.len(),
        format_duration(trace_duration),
        format_timestamp(trace_start)
    );
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|&index| (index, 0)).collect())
        .unwrap_or_default();
    while let Some((index, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[index], true) {
            continue;
        }
        let span = &spans[index];
        let line = Line {
            depth,
            trace_start,
            trace_duration,
        };
        write_line(&mut out, span, &line, marks);
        if let Some(kids) = children.get(&Some(span.span_id)) {
            for &kid in kids.iter().rev() {
                stack.push((kid, depth + 1));
            }
        }
    }
    // Cycles (a span whose ancestors loop) are never reached from a root: show them flat.
    for (index, span) in spans.iter().enumerate() {
        if !visited[index] {
            let line = Line {
                depth: 0,
                trace_start,
                trace_duration,
            };
            write_line(&mut out, span, &line, marks);
        }
    }
    out
}

/// Where one line sits: its depth and the trace's extent.
struct Line {
    depth: usize,
    trace_start: u64,
    trace_duration: u64,
}

fn write_line(out: &mut String, span: &Span, line: &Line, marks: &CriticalPathMarks) {
    let Line {
        depth,
        trace_start,
        trace_duration,
    } = *line;
    let offset = span.start_unix_nanos.saturating_sub(trace_start);
    let bar_start = (offset as u128 * BAR_WIDTH as u128 / trace_duration as u128) as usize;
    let bar_length = ((span.duration_nanos as u128 * BAR_WIDTH as u128 / trace_duration as u128)
        as usize)
        .max(1);
    let bar_start = bar_start.min(BAR_WIDTH - 1);
    let bar_length = bar_length.min(BAR_WIDTH - bar_start);
    let bar = format!(
        "{}{}{}",
        " ".repeat(bar_start),
        "█".repeat(bar_length),
        " ".repeat(BAR_WIDTH - bar_start - bar_length)
    );
    let error = if span.is_error() { "  ERROR" } else { "" };
    let critical = marks.span_ids.contains(&span.span_id);
    let marker = if critical { CRITICAL_MARKER } else { ' ' };
    let (bold, reset) = if critical && marks.colour {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "{bold}{marker}|{bar}| {:>9} {:>9}  {}{} {}{}{reset}",
        format!("+{}", format_duration(offset)),
        format_duration(span.duration_nanos),
        "  ".repeat(depth),
        span.service_name().unwrap_or("?"),
        span.name,
        error
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use weft_model::{Resource, TraceId};

    fn span(id: u64, parent: Option<u64>, start: u64, duration: u64, name: &str) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(id), name);
        span.parent_span_id = parent.map(SpanId::from_u64);
        span.start_unix_nanos = start;
        span.duration_nanos = duration;
        span.resource = Arc::new(Resource::for_service("svc"));
        span
    }

    #[test]
    fn children_are_indented_under_their_parent_in_start_order() {
        let spans = vec![
            span(3, Some(1), 1_500_000, 100_000, "late child"),
            span(1, None, 1_000_000, 2_000_000, "root"),
            span(2, Some(1), 1_100_000, 100_000, "early child"),
        ];
        let text = render(&spans, &CriticalPathMarks::default());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("3 spans"));
        assert!(lines[1].ends_with("svc root"), "{}", lines[1]);
        assert!(lines[2].ends_with("  svc early child"), "{}", lines[2]);
        assert!(lines[3].ends_with("  svc late child"), "{}", lines[3]);
        assert!(lines[1].contains("2.0ms"));
    }

    #[test]
    fn a_parent_cycle_does_not_loop_forever() {
        let spans = vec![span(1, Some(2), 0, 1, "a"), span(2, Some(1), 0, 1, "b")];
        assert_eq!(
            render(&spans, &CriticalPathMarks::default())
                .lines()
                .count(),
            3
        );
    }

    #[test]
    fn spans_on_the_critical_path_carry_the_marker_and_colour_only_when_asked() {
        let spans = vec![
            span(1, None, 0, 100, "root"),
            span(2, Some(1), 10, 80, "slow"),
            span(3, Some(1), 10, 20, "fast"),
        ];
        let marks = CriticalPathMarks {
            span_ids: [1, 2].into_iter().map(SpanId::from_u64).collect(),
            colour: false,
        };
        let text = render(&spans, &marks);
        let marked: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with(CRITICAL_MARKER))
            .collect();
        assert_eq!(marked.len(), 2, "{text}");
        assert!(marked[1].ends_with("svc slow"), "{text}");
        assert!(!text.contains('\x1b'), "no colour unless asked");
        let coloured = render(
            &spans,
            &CriticalPathMarks {
                colour: true,
                ..marks
            },
        );
        let bold_lines = coloured
            .lines()
            .filter(|line| line.starts_with("\x1b[1;31m*"));
        assert_eq!(bold_lines.count(), 2, "{coloured}");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(
            format_timestamp(1_795_000_000_123_000_000),
            "2026-11-18 11:06:40.123"
        );
    }
}
