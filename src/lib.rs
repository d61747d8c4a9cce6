//! swarm-persistence: pooled SQLite persistence for Node.js.
//!
//! `pool` is the engine (writer, readers, workers, health), `store` the swarm domain on it,
//! `persistence` the lifecycle of a persistence object over both, `sqlite` the connection layer,
//! `pg` the PostgreSQL backend behind the same storage seam, `config` the settings, and `js` the
//! napi binding.

pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
mod js;
pub mod payloads;
pub mod persistence;
pub mod pg;
pub mod pool;
pub mod sqlite;
pub mod store;

pub use config::PoolConfig;
pub use error::{Error, Result};

/// Where Rust tests put their databases: under `target/`, which the build owns and cleans, not
/// the system's temporary folder.
#[cfg(test)]
pub(crate) fn test_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("test-data")
}

/// Rust allocations of the addon (not Node's) go to mimalloc: rows are built on pool threads and
/// freed on the JavaScript thread, which glibc malloc serves slowly (see bench/FINDINGS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `dir`, at any depth.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source folder") {
            let path = entry.expect("readable folder entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Whether `code` (a trimmed line) declares an `unsafe fn`, possibly `pub` or `extern "C"`;
    /// types such as `Option<unsafe fn()>` do not count.
    fn declares_unsafe_fn(code: &str) -> bool {
        let mut saw_unsafe = false;
        for word in code.split_whitespace() {
            match word {
                "fn" => return saw_unsafe,
                "unsafe" => saw_unsafe = true,
                "pub" | "extern" | "\"C\"" | "const" | "async" => {}
                w if w.starts_with("pub(") => {}
                _ => return false,
            }
        }
        false
    }

    /// Every `unsafe` block and `unsafe impl` has its own `// SAFETY:` note within the three
    /// lines above it, and every `unsafe fn` a `# Safety` section in its doc comment.
    #[test]
    fn every_unsafe_has_a_safety_note() {
        // Assembled from pieces so that this test's own source does not match them.
        let block = concat!("unsafe", " {");
        let unsafe_impl = concat!("unsafe", " impl");
        let note = concat!("SAFETY", ":");
        let section = concat!("# ", "Safety");
        let mut files = Vec::new();
        rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(!files.is_empty(), "no source files found");
        let mut missing = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("readable source file");
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue; // prose may mention `unsafe` freely
                }
                let place = format!("{}:{}", file.display(), i + 1);
                if line.contains(block) || line.contains(unsafe_impl) {
                    let window = &lines[i.saturating_sub(3)..i];
                    // The nearest note counts only if no other unsafe code sits between it and
                    // this line: one note may not cover two blocks.
                    let own_note = window.iter().rposition(|l| l.contains(note)).is_some_and(|at| {
                        window[at + 1..]
                            .iter()
                            .all(|l| !l.contains(block) && !l.contains(unsafe_impl))
                    });
                    if !own_note {
                        missing.push(format!("{place}: no `// SAFETY:` note in the 3 lines above"));
                    }
                }
                if declares_unsafe_fn(code) {
                    let documented = lines[..i]
                        .iter()
                        .rev()
                        .map(|l| l.trim_start())
                        .take_while(|l| l.starts_with("///") || l.starts_with("#["))
                        .any(|l| l.starts_with("///") && l.contains(section));
                    if !documented {
                        missing.push(format!("{place}: `unsafe fn` without a `# Safety` doc section"));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "unsafe code without its justification:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn unsafe_fn_detection() {
        assert!(declares_unsafe_fn("unsafe fn drain(env: Env) {"));
        assert!(declares_unsafe_fn("pub(crate) unsafe extern \"C\" fn call_js() {"));
        assert!(!declares_unsafe_fn("fn safe() {"));
        assert!(!declares_unsafe_fn("let f: Option<unsafe fn()> = None;"));
    }
}
