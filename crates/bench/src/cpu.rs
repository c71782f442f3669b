//! CPU time of a Linux process (user plus system, all threads, children not included)
//! from `/proc/<pid>/stat`.

use std::time::Duration;

/// User and system CPU time a process has used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTime {
    /// Time in user mode (`utime`).
    pub user: Duration,
    /// Time in kernel mode (`stime`).
    pub system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The CPU time used between `earlier` and `self` (zero where a field went
    /// backwards, which only a different process would do).
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time of process `pid` so far; `None` when the process is gone or the file does
/// not parse.
pub fn process_cpu_time(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks_per_second = rustix::param::clock_ticks_per_second();
    parse_stat_cpu(&stat, ticks_per_second)
}

/// Reads `utime` and `stime` (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat`
/// line. The command name (field 2) is in parentheses and may itself contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat_cpu(stat: &str, ticks_per_second: u64) -> Option<CpuTime> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let mut fields = after_name.split_whitespace().skip(11);
    let user_ticks: u64 = fields.next()?.parse().ok()?;
    let system_ticks: u64 = fields.next()?.parse().ok()?;
    let ticks = |count: u64| Duration::from_secs_f64(count as f64 / ticks_per_second.max(1) as f64);
    Some(CpuTime {
        user: ticks(user_ticks),
        system: ticks(system_ticks),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis, as a thread may name itself.
        let stat = "4242 (weft (x) y) S 1 4242 4242 0 -1 4194304 5000 0 0 0 250 75 0 0 20 0 9 0 100 1000000 2000 18446744073709551615";
        let cpu = parse_stat_cpu(stat, 100).expect("parses");
        assert_eq!(cpu.user, Duration::from_millis(2_500));
        assert_eq!(cpu.system, Duration::from_millis(750));
        assert_eq!(cpu.total(), Duration::from_millis(3_250));
        assert_eq!(parse_stat_cpu("4242 (weft) S 1 2", 100), None);
        assert_eq!(parse_stat_cpu("no parenthesis", 100), None);
    }

    #[test]
    fn differences_never_go_negative() {
        let earlier = CpuTime {
            user: Duration::from_secs(3),
            system: Duration::from_secs(1),
        };
        let later = CpuTime {
            user: Duration::from_secs(5),
            system: Duration::from_millis(500),
        };
        let used = later.since(&earlier);
        assert_eq!(used.user, Duration::from_secs(2));
        assert_eq!(used.system, Duration::ZERO);
    }

    #[test]
    fn own_process_is_readable_and_grows() {
        let before = process_cpu_time(std::process::id()).expect("linux");
        let mut x = 0u64;
        let spin_until = std::time::Instant::now() + Duration::from_millis(60);
        while std::time::Instant::now() < spin_until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = process_cpu_time(std::process::id()).expect("linux");
        assert!(after.total() > before.total(), "{before:?} -> {after:?}");
    }
}
