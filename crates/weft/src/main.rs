//! The `weft` binary. Everything lives in `weft-cli`.

// glibc's allocator spent a third of the server's CPU in malloc/free under load and kept
// freed memory fragmented (docs/benchmarks.md); mimalloc is faster and returns memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    transparent_huge_pages_off();
    weft_cli::main()
}

/// Turns transparent huge pages off for this process (and the processes it starts).
///
/// mimalloc asks for huge pages on its arenas, and the kernel's khugepaged then fills
/// partly used 2 MiB ranges with zeroed pages whenever it collapses them, so memory
/// that mimalloc returned comes back as resident a range at a time. Under sustained
/// ingest that made resident memory beyond the counted head climb by ~200 MiB in 12
/// minutes, in step with `AnonHugePages`; without huge pages it stays flat
/// (docs/benchmarks.md, "Longer runs"). Failing (an old kernel) only costs memory, so
/// the error is ignored.
#[cfg(target_os = "linux")]
fn transparent_huge_pages_off() {
    let _ = nix::sys::prctl::set_thp_disable(true);
}

#[cfg(not(target_os = "linux"))]
fn transparent_huge_pages_off() {}
