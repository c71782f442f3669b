//! The server's memory as the soak test sees it: `/proc/<pid>/status` readings and the
//! growth trend of a series of samples.

use std::time::Duration;

use crate::stats::least_squares_slope;

/// One memory sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssSample {
    /// Time since the start of sending.
    pub elapsed: Duration,
    /// The server's resident set in bytes; `None` without a pid or when unreadable.
    pub rss_bytes: Option<u64>,
    /// Spans the server had stored (acknowledged, minus partial rejections) by then.
    pub spans_acknowledged: u64,
}

/// Slope of a least-squares line through the second half of the samples that have an
/// RSS (by count, so warm-up is left out), in MiB per minute. `None` with fewer than
/// two such samples in the second half.
pub fn growth_mib_per_minute(samples: &[RssSample]) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|sample| {
            let rss = sample.rss_bytes?;
            Some((
                sample.elapsed.as_secs_f64() / 60.0,
                rss as f64 / (1024.0 * 1024.0),
            ))
        })
        .collect();
    least_squares_slope(&points[points.len() / 2..])
}

/// A Linux process's current (`VmRSS`) or peak (`VmHWM`) resident set in bytes, from
/// `/proc/<pid>/status`; `None` when the process or the field is gone.
pub fn process_memory_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field).map(|kib| kib * 1024)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|line| line.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: u64, rss_mib: u64) -> RssSample {
        RssSample {
            elapsed: Duration::from_secs(seconds),
            rss_bytes: Some(rss_mib * 1024 * 1024),
            spans_acknowledged: 0,
        }
    }

    #[test]
    fn growth_is_fitted_over_the_second_half_only() {
        // Warm-up from 100 to 400 MiB, then +2 MiB per 30 s = 4 MiB/min.
        let mut samples = vec![sample(0, 100), sample(30, 250), sample(60, 400)];
        samples.extend((0..6).map(|i| sample(90 + 30 * i, 400 + 2 * i)));
        let growth = growth_mib_per_minute(&samples).expect("enough samples");
        assert!((growth - 4.0).abs() < 1e-6, "{growth}");
        assert_eq!(growth_mib_per_minute(&samples[..2]), None);
        let no_rss = RssSample {
            rss_bytes: None,
            ..sample(5, 0)
        };
        assert_eq!(growth_mib_per_minute(&[no_rss; 10]), None);
    }

    #[test]
    fn proc_status_fields_are_read_in_kib() {
        let status = "Name:\tweft\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("VmRSSX: 5 kB", "VmRSS"), None);
        let own = process_memory_bytes(std::process::id(), "VmRSS").expect("linux");
        assert!(own > 0);
    }
}
