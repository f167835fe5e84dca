//! Reading process information from `/proc` (Linux).

use std::fs;
use std::time::Duration;

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStat {
    /// Single-letter state (`R`, `S`, `Z`, ...): zombies count as gone.
    pub(crate) state: char,
    /// Parent PID: to find the server's children.
    pub(crate) ppid: u32,
    /// utime + stime of the process itself, in clock ticks.
    pub(crate) own_ticks: u64,
    /// cutime + cstime (reaped children), in clock ticks.
    pub(crate) reaped_ticks: u64,
}

/// Parses `/proc/PID/stat`; `None` if the process does not exist (or the file is unreadable).
pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the text of a stat file. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    let num = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let state = fields.first()?.chars().next()?;
    let ppid = u32::try_from(num(4)?).ok()?;
    Some(ProcStat {
        state,
        ppid,
        own_ticks: num(14)? + num(15)?,
        reaped_ticks: num(16)? + num(17)?,
    })
}

/// True if the process exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// PIDs of the live processes whose parent is `pid`.
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == pid && s.state != 'Z'))
        .collect()
}

/// CPU time used by `pid`, the children it reaped and its live children.
pub(crate) fn tree_cpu_time(pid: u32) -> Duration {
    let Some(main) = stat(pid) else {
        return Duration::ZERO;
    };
    let mut ticks = main.own_ticks + main.reaped_ticks;
    for child in children(pid) {
        if let Some(s) = stat(child) {
            ticks += s.own_ticks + s.reaped_ticks;
        }
    }
    ticks_to_duration(ticks)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz)
}

/// Sends a signal to one PID (errors such as "no such process" are ignored by callers).
pub(crate) fn signal(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: kill has no memory-safety preconditions; pid is a specific process (> 0).
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Removes the System V shared memory segment named in `DATA/postmaster.pid` if nothing is
/// attached to it: a server killed with SIGKILL leaves it behind (a restart would reuse it).
pub(crate) fn remove_stale_shm(data_dir: &std::path::Path) {
    let Ok(text) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    // Line 7 is "<key> <shmid>".
    let Some(shmid) = text
        .lines()
        .nth(6)
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|id| id.parse::<libc::c_int>().ok())
    else {
        return;
    };
    // SAFETY: shmid_ds is plain old data; shmctl writes into it for IPC_STAT.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: ds is a valid, writable shmid_ds.
    if unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut ds) } != 0 || ds.shm_nattch != 0 {
        return;
    }
    // SAFETY: IPC_RMID takes no buffer.
    if unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) } == 0 {
        tracing::debug!(
            shmid,
            "removed the shared memory segment of a killed postgres"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let text = "1234 (post (gres) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 1 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.own_ticks, 10);
        assert_eq!(s.reaped_ticks, 24);
    }

    #[test]
    fn own_process_is_visible() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(stat(me).is_some());
        assert_eq!(ticks_to_duration(0), Duration::ZERO);
    }
}
