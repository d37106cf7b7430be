//! Shared by the targets that read their input from a file (not a target itself).

/// A scratch directory of this process, on a RAM file system when there is one: each run
/// writes its input there. scripts/fuzz.sh points CAIRN_FUZZ_SCRATCH at a directory of its
/// own, which it removes afterwards (so that concurrent runs leave each other alone).
pub fn scratch(name: &str) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if let Some(dir) = std::env::var_os("CAIRN_FUZZ_SCRATCH") {
        std::path::PathBuf::from(dir)
    } else if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("cairn-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
