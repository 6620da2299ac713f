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

/// Hands the allocator's free memory back to the system, where the C
/// library can (glibc keeps freed heap pages mapped until asked; loading a
/// model frees its parse buffers, a bulk batch its activations). A no-op
/// elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has
    // no preconditions and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
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

    /// Freed blocks between live ones stay resident until handed back: 64
    /// MiB of 4 KiB blocks are freed with every 64th kept, so the heap cannot
    /// shrink from its top by itself.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_is_handed_back() {
        let blocks: Vec<Vec<u8>> = (0..16_384).map(|i| vec![i as u8 | 1; 4096]).collect();
        let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(64).collect();
        let before = resident_memory_bytes().unwrap();
        release_free_memory();
        let after = resident_memory_bytes().unwrap();
        assert!(kept.iter().all(|b| b[0] & 1 == 1));
        assert!(
            before.saturating_sub(after) > 32 * 1024 * 1024,
            "resident {} MiB before, {} MiB after",
            before >> 20,
            after >> 20
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_own_memory() {
        assert!(resident_memory_bytes().is_some_and(|bytes| bytes > 1024 * 1024));
    }
}
