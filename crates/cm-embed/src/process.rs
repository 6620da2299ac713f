//! Facts about this process that the model reports include.

/// Resident memory of the whole process in bytes, read from `/proc` on
/// Linux; `None` elsewhere or if it cannot be read.
///
/// It reads `VmRSS` from `/proc/self/status` — the same figure as the second
/// field of `/proc/self/statm`, but already in kilobytes, so no page-size
/// lookup (and no `unsafe` call to `sysconf`) is needed.
pub fn resident_memory_bytes() -> Option<u64> {
    if cfg!(target_os = "linux") {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_vm_rss(&status)
    } else {
        None
    }
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(value * 1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tcargo\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_own_memory() {
        assert!(resident_memory_bytes().is_some_and(|bytes| bytes > 1024 * 1024));
    }
}
