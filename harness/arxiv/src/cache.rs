//! A response cache on disk, keyed by URL, with a time to live.
//!
//! One file per URL, named by the SHA-256 of the URL, holding the response body; freshness is the
//! file's modification time. Writes go to a temporary file in the same directory and are renamed
//! into place, so a reader never sees half a response and concurrent writers do not corrupt each
//! other. A cache that cannot be read or written is skipped, never fatal.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::error::Error;

/// Default time to live of a cached response.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The cache directory: `$REPRO_CACHE/arxiv`, else the platform cache dir's `repro/arxiv`
/// (`~/.cache/repro/arxiv` on Linux), else `.repro-cache/arxiv`.
pub fn default_dir() -> PathBuf {
    if let Some(root) = std::env::var_os("REPRO_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(root).join("arxiv");
    }
    match dirs::cache_dir() {
        Some(dir) => dir.join("repro").join("arxiv"),
        None => PathBuf::from(".repro-cache").join("arxiv"),
    }
}

/// Responses stored under a directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    ttl: Duration,
}

impl Cache {
    /// A cache in `dir` (created on first write) whose entries live `ttl`.
    pub fn new(dir: impl Into<PathBuf>, ttl: Duration) -> Self {
        Cache {
            dir: dir.into(),
            ttl,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(url.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.xml"))
    }

    /// The body stored for `url`, if younger than the TTL.
    pub fn get(&self, url: &str) -> Option<String> {
        let path = self.path_for(url);
        let modified = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        if age > self.ttl {
            return None;
        }
        fs::read_to_string(path).ok()
    }

    /// Stores `body` for `url`, atomically.
    pub fn put(&self, url: &str, body: &str) -> Result<(), Error> {
        let path = self.path_for(url);
        write_atomic(&path, body.as_bytes())
    }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, synced, then renamed over
/// it), creating missing parent directories, with this module's error type.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.commit()
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_reads_and_expires() {
        let dir = std::env::temp_dir().join(format!(
            "repro-cache-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let cache = Cache::new(&dir, Duration::from_secs(60));
        assert_eq!(cache.get("http://x/a"), None);
        cache.put("http://x/a", "<feed/>").unwrap();
        assert_eq!(cache.get("http://x/a").as_deref(), Some("<feed/>"));
        assert_eq!(cache.get("http://x/b"), None);
        let expired = Cache::new(&dir, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(expired.get("http://x/a"), None);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(dir).unwrap();
    }
}
