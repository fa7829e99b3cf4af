//! Atomic file writes: a reader sees either the old file or the complete new one, never a torn
//! write, and a process killed half-way leaves at most a stray temporary file beside the target.
//!
//! The `atomic-write-file` crate does the work (a temporary file in the target's own directory,
//! flushed and synced, renamed over the target, the directory synced on Unix); this module adds
//! parent directories and errors that name the path.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use atomic_write_file::AtomicWriteFile;

/// Writes `bytes` to `path` atomically, creating missing parent directories.
///
/// An existing file at `path` is replaced; until the final rename it stays untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes the output of `write` to `path` atomically, creating missing parent directories.
///
/// `write` receives a buffered writer onto a temporary file beside `path`. If `write` returns an
/// error, nothing is renamed: `path` keeps its previous content (or stays absent) and the
/// temporary file is removed.
pub fn write_atomic_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(|e| with_path(e, "creating directory", dir))?;
    let mut file = AtomicWriteFile::open(path)
        .map_err(|e| with_path(e, "creating a temporary file for", path))?;
    {
        let mut out = BufWriter::new(&mut file);
        write(&mut out)?;
        out.flush()?;
    }
    file.commit()
        .map_err(|e| with_path(e, "renaming the temporary file onto", path))
}

/// The directory that holds `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Best-effort `fsync` of a directory, so that a rename inside it is durable (Unix only; a no-op
/// elsewhere, where directories cannot be opened for syncing).
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_new_file_and_creates_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/c.json");
        write_atomic(&path, b"{\"x\": 1}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"x\": 1}");
        assert_eq!(entries(&tmp.path().join("a/b")), vec!["c.json"]);
    }

    #[test]
    fn replaces_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.txt");
        fs::write(&path, b"old content that is longer").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(tmp.path()), vec!["f.txt"]);
    }

    #[test]
    fn writer_closure_streams_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("lines.md");
        write_atomic_with(&path, |w| {
            for i in 0..3 {
                writeln!(w, "line {i}")?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "line 0\nline 1\nline 2\n"
        );
    }

    #[test]
    fn failed_writer_keeps_old_file_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keep.txt");
        fs::write(&path, b"original").unwrap();
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(fs::read(&path).unwrap(), b"original");
        assert_eq!(entries(tmp.path()), vec!["keep.txt"]);
    }

    #[test]
    fn failed_writer_on_new_path_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("never.txt");
        assert!(write_atomic_with(&path, |_| Err(io::Error::other("no"))).is_err());
        assert!(!path.exists());
        assert!(entries(tmp.path()).is_empty());
    }

    #[test]
    fn bare_file_name_uses_current_directory() {
        assert_eq!(parent_dir(Path::new("x.json")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/x.json")), Path::new("d"));
    }
}
