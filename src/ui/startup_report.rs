//! `VITSCOPE_STARTUP_REPORT=1` (or `=exit`): the app says on stderr how long after the process started the
//! first attention map was on screen, then (with `exit`) closes. The benchmark of start-up reads it.
use std::time::Duration;

/// Whether and how to report; read once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Say,
    SayAndExit,
}

pub fn asked() -> Option<Report> {
    match std::env::var("VITSCOPE_STARTUP_REPORT").ok()?.as_str() {
        "" | "0" => None,
        "exit" => Some(Report::SayAndExit),
        _ => Some(Report::Say),
    }
}

/// How long this process has run, from the kernel's record of its start (so the dynamic loading of
/// libtorch before `main` counts); `None` where /proc is not there.
pub fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which is in parentheses and may hold spaces
    let after = stat.rsplit_once(')')?.1;
    let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    #[cfg(target_os = "linux")]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    #[cfg(not(target_os = "linux"))]
    let hz = 100.0;
    Some(Duration::from_secs_f64(
        (uptime - start_ticks / hz).max(0.0),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_young_process_is_young() {
        let age = super::process_age().expect("/proc on Linux");
        assert!(age < std::time::Duration::from_secs(3600), "{age:?}");
    }
}
