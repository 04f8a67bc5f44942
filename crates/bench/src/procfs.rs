//! A running process's CPU time and memory, read from Linux's `/proc/<pid>/stat` and
//! `/proc/<pid>/status`; the whole machine's CPU time from `/proc/stat` and its load from
//! `/proc/loadavg`.

use std::time::Duration;

/// The CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time so far.
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: `getconf CLK_TCK`,
/// or 100 (the value on every mainstream Linux architecture) when that cannot be run.
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Reads the process `pid`'s figures; `ticks_per_second` from [`clock_ticks_per_second`].
pub fn sample(pid: u32, ticks_per_second: u64) -> std::io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })?;
    let tps = ticks_per_second.max(1);
    Ok(ProcSample {
        cpu: Duration::from_secs(ticks / tps)
            + Duration::from_nanos((ticks % tps) * 1_000_000_000 / tps),
        rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
        peak_rss_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
    })
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`: fields 14 and 15,
/// counted after the command name in parentheses (which may itself hold spaces or `)`).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    // After ")": field 3 (state) is the first; utime is field 14, stime 15.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line's number from the text of `/proc/<pid>/status`.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The whole machine's CPU time so far, summed over every CPU, in clock ticks (the first
/// line of `/proc/stat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// Time in user mode (`user + nice`).
    pub user: u64,
    /// Time in the kernel for processes (`system`).
    pub system: u64,
    /// Time serving interrupts and softirqs (`irq + softirq`).
    pub irq: u64,
    /// Idle time (`idle + iowait`).
    pub idle: u64,
    /// Time the hypervisor ran something else while this machine wanted a CPU (`steal`).
    pub steal: u64,
}

impl MachineCpu {
    /// Ticks spent doing something: user, system and interrupts.
    pub fn busy(&self) -> u64 {
        self.user + self.system + self.irq
    }

    /// The ticks of each kind between `earlier` and this reading.
    pub fn since(&self, earlier: &MachineCpu) -> MachineCpu {
        MachineCpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            irq: self.irq.saturating_sub(earlier.irq),
            idle: self.idle.saturating_sub(earlier.idle),
            steal: self.steal.saturating_sub(earlier.steal),
        }
    }
}

/// Reads the machine's CPU time from `/proc/stat`.
pub fn machine_cpu() -> std::io::Result<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_machine_cpu(&stat).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected /proc/stat")
    })
}

/// The `cpu` line of the text of `/proc/stat`.
pub fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    Some(MachineCpu {
        user: at(0) + at(1),
        system: at(2),
        idle: at(3) + at(4),
        irq: at(5) + at(6),
        steal: at(7),
    })
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`.
pub fn load_average() -> std::io::Result<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg")?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c))) => Ok([a, b, c]),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "unexpected /proc/loadavg",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(300));
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        let me = sample(std::process::id(), clock_ticks_per_second()).unwrap();
        assert!(me.peak_rss_kib >= me.rss_kib && me.rss_kib > 0);
    }

    #[test]
    fn parses_machine_cpu() {
        let stat = "cpu  348148 2 46698 60934 1420 5 393 2458 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let m = parse_machine_cpu(stat).unwrap();
        assert_eq!(
            m,
            MachineCpu {
                user: 348150,
                system: 46698,
                irq: 398,
                idle: 62354,
                steal: 2458
            }
        );
        assert_eq!(m.busy(), 348150 + 46698 + 398);
        assert_eq!(m.since(&m), MachineCpu::default());
        assert!(machine_cpu().unwrap().busy() > 0);
        assert!(load_average().unwrap()[0] >= 0.0);
    }
}
