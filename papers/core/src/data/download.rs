//! Downloads into a SHA-256-verified cache.
//!
//! A canonical dataset is a list of [`RemoteFile`]s, each pinned by URL and SHA-256. [`fetch`]
//! puts a file under the cache directory ([`cache_dir`]) and returns its path, with these
//! guarantees:
//!
//! - A cached file whose SHA-256 matches is used as is: no network access at all.
//! - A cached file whose SHA-256 does not match is reported on standard error, removed and
//!   downloaded again.
//! - A download streams into a temporary file in the cache directory (`.<name>.<random>.part`)
//!   while being hashed; only a verified file is renamed, atomically, to its final name. A killed
//!   download therefore never leaves a file under the final name.
//! - A download whose SHA-256 does not match is an error naming the file, the URL and both
//!   checksums, and leaves nothing behind.
//! - HTTP 5xx / 408 / 429 answers, connection errors and truncated bodies are retried a few times
//!   with exponential backoff (honouring `Retry-After`); other HTTP errors (404, 403, …) fail at
//!   once with the status and URL.
//! - A progress bar (bytes, rate, ETA) is drawn on standard error only when it is a terminal.
//!
//! Environment:
//! - `REPRO_CACHE`: the cache directory (default: the platform cache directory + `/repro`, e.g.
//!   `~/.cache/repro` on Linux; `.repro-cache` when there is none).
//! - `REPRO_DATA_MIRROR`: a base URL (`https://mirror.example.org/repro`) that replaces the scheme
//!   and host of every download URL, keeping its path and query:
//!   `http://www.statmt.org/wmt13/x.tgz` → `https://mirror.example.org/repro/wmt13/x.tgz`. The
//!   SHA-256 pins still apply, so a mirror cannot substitute different bytes.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::atomic::sync_dir;

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "REPRO_CACHE";
/// Environment variable holding a base URL that replaces the scheme and host of every download.
pub const MIRROR_ENV: &str = "REPRO_DATA_MIRROR";

/// How many times one download is attempted before giving up on a transient failure.
const MAX_ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(if cfg!(test) { 10 } else { 500 });
/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// One downloadable file, pinned by its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name in the cache directory (no path separators), e.g. `training.tar.gz`.
    pub name: &'static str,
    /// Where the file is published.
    pub url: &'static str,
    /// Expected SHA-256 of the file's bytes, 64 hexadecimal digits.
    pub sha256: &'static str,
    /// Expected size in bytes when known (used for the progress bar and a cheap cache check).
    pub size: Option<u64>,
}

/// The cache directory: `$REPRO_CACHE` if set, else the platform cache directory + `repro`
/// (`~/.cache/repro` on Linux), else `.repro-cache` in the current directory.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os(CACHE_ENV), dirs::cache_dir())
}

fn cache_dir_from(env: Option<OsString>, platform: Option<PathBuf>) -> PathBuf {
    match env {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => platform.map_or_else(|| PathBuf::from(".repro-cache"), |d| d.join("repro")),
    }
}

/// Returns the path of `file` in `cache`, downloading and verifying it first unless a valid copy
/// is already there. Honours `$REPRO_DATA_MIRROR`. See the [module documentation](self).
pub fn fetch(file: &RemoteFile, cache: &Path) -> Result<PathBuf> {
    fetch_from(file, cache, None)
}

/// Like [`fetch`], but `base_url` (when given) replaces the scheme and host of `file.url`, taking
/// precedence over `$REPRO_DATA_MIRROR`. Tests point it at a local server.
pub fn fetch_from(file: &RemoteFile, cache: &Path, base_url: Option<&str>) -> Result<PathBuf> {
    validate(file)?;
    fs::create_dir_all(cache)
        .with_context(|| format!("creating cache directory {}", cache.display()))?;
    let dest = cache.join(file.name);
    if dest.is_file() {
        match check_cached(file, &dest)? {
            None => return Ok(dest),
            Some(problem) => {
                eprintln!(
                    "repro: cached {} at {} is corrupt ({problem}); removing it and downloading again",
                    file.name,
                    dest.display()
                );
                fs::remove_file(&dest)
                    .with_context(|| format!("removing corrupt cached file {}", dest.display()))?;
            }
        }
    }
    let url = resolve_url(file.url, base_url)?;
    let (tmp, actual) = download_with_retries(file, &url, cache)?;
    let expected = file.sha256.to_ascii_lowercase();
    if actual != expected {
        // `tmp` is dropped here, which deletes the temporary file: nothing is left behind.
        bail!(
            "checksum mismatch for {name} downloaded from {url}: expected SHA-256 {expected}, \
             got {actual}; the file was discarded (a changed upstream file or a bad mirror?)",
            name = file.name
        );
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing downloaded {}", file.name))?;
    tmp.persist(&dest)
        .map_err(|e| e.error)
        .with_context(|| format!("moving downloaded {} into {}", file.name, dest.display()))?;
    sync_dir(cache);
    Ok(dest)
}

/// The URL a download of `url` really uses: `base_url` if given, else `$REPRO_DATA_MIRROR` if
/// set, replaces its scheme and host (and port), keeping path and query; otherwise `url` itself.
pub fn resolve_url(url: &str, base_url: Option<&str>) -> Result<String> {
    let env = std::env::var(MIRROR_ENV).ok();
    resolve_url_with(url, base_url.or(env.as_deref()))
}

fn resolve_url_with(url: &str, base: Option<&str>) -> Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid download URL {url}"))?;
    let Some(base) = base.map(str::trim).filter(|b| !b.is_empty()) else {
        return Ok(url.to_owned());
    };
    let base_parsed =
        reqwest::Url::parse(base).with_context(|| format!("invalid mirror base URL {base}"))?;
    if !matches!(base_parsed.scheme(), "http" | "https") {
        bail!("mirror base URL {base} must start with http:// or https://");
    }
    let mut out = format!("{}{}", base.trim_end_matches('/'), parsed.path());
    if let Some(query) = parsed.query() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// SHA-256 of `bytes` as 64 lowercase hexadecimal digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of the file at `path`, streamed, as 64 lowercase hexadecimal digits.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn validate(file: &RemoteFile) -> Result<()> {
    let name_ok = !file.name.is_empty()
        && file.name != "."
        && file.name != ".."
        && !file.name.contains(['/', '\\']);
    if !name_ok {
        bail!("invalid cache file name {:?} for {}", file.name, file.url);
    }
    if file.sha256.len() != 64 || !file.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "invalid SHA-256 {:?} pinned for {}: expected 64 hexadecimal digits",
            file.sha256,
            file.name
        );
    }
    Ok(())
}

/// `None` when the cached file is valid, else what is wrong with it.
fn check_cached(file: &RemoteFile, path: &Path) -> Result<Option<String>> {
    if let Some(expected) = file.size {
        let actual = fs::metadata(path)
            .with_context(|| format!("reading metadata of {}", path.display()))?
            .len();
        if actual != expected {
            return Ok(Some(format!("size {actual} bytes, expected {expected}")));
        }
    }
    let actual =
        sha256_file(path).with_context(|| format!("hashing cached file {}", path.display()))?;
    if actual == file.sha256.to_ascii_lowercase() {
        Ok(None)
    } else {
        Ok(Some(format!("SHA-256 {actual}, expected {}", file.sha256)))
    }
}

/// Outcome of a failed attempt: worth retrying, or not.
enum Failure {
    Transient(anyhow::Error, Option<Duration>),
    Fatal(anyhow::Error),
}

fn download_with_retries(
    file: &RemoteFile,
    url: &str,
    cache: &Path,
) -> Result<(tempfile::NamedTempFile, String)> {
    let client = client_for(url)?;
    let mut delay = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match download_once(&client, file, url, cache) {
            Ok(done) => return Ok(done),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(e, retry_after)) => {
                if attempt >= MAX_ATTEMPTS {
                    return Err(e.context(format!(
                        "downloading {} from {url} failed after {MAX_ATTEMPTS} attempts",
                        file.name
                    )));
                }
                let wait = retry_after.map_or(delay, |d| d.min(MAX_RETRY_AFTER));
                eprintln!(
                    "repro: downloading {} failed ({e:#}); retrying in {:.1} s (attempt {}/{MAX_ATTEMPTS})",
                    file.name,
                    wait.as_secs_f64(),
                    attempt + 1
                );
                std::thread::sleep(wait);
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

fn client_for(url: &str) -> Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(concat!("repro/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        // Applies to each read of the body, not to the whole download.
        .timeout(Duration::from_secs(120));
    // A local server (tests, a mirror on this machine) is never reached through a proxy.
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let loopback = host.is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if loopback {
        builder = builder.no_proxy();
    }
    builder.build().context("building the HTTP client")
}

fn download_once(
    client: &reqwest::blocking::Client,
    file: &RemoteFile,
    url: &str,
    cache: &Path,
) -> Result<(tempfile::NamedTempFile, String), Failure> {
    let mut response = match client.get(url).send() {
        Ok(r) => r,
        Err(e) if e.is_builder() || e.is_redirect() => {
            return Err(Failure::Fatal(
                anyhow!(e).context(format!("requesting {} from {url}", file.name)),
            ));
        }
        Err(e) => {
            return Err(Failure::Transient(
                anyhow!(e).context(format!("connecting to {url}")),
                None,
            ));
        }
    };
    let status = response.status();
    if !status.is_success() {
        let err = anyhow!("HTTP {status} for {} at {url}", file.name);
        let transient = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        if transient {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Failure::Transient(err, retry_after));
        }
        return Err(Failure::Fatal(err));
    }

    let expected_len = response.content_length();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.name))
        .suffix(".part")
        .tempfile_in(cache)
        .with_context(|| format!("creating a temporary file in {}", cache.display()))
        .map_err(Failure::Fatal)?;
    let bar = progress_bar(file.name, expected_len.or(file.size));
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(Failure::Transient(
                    anyhow!(e).context(format!("reading {} from {url}", file.name)),
                    None,
                ));
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {} to {}", file.name, tmp.path().display()))
            .map_err(Failure::Fatal)?;
        received += n as u64;
        bar.inc(n as u64);
    }
    out.flush()
        .with_context(|| format!("writing {} to {}", file.name, tmp.path().display()))
        .map_err(Failure::Fatal)?;
    drop(out);
    bar.finish_and_clear();
    if let Some(len) = expected_len
        && received != len
    {
        return Err(Failure::Transient(
            anyhow!(
                "truncated download of {}: got {received} of {len} bytes from {url}",
                file.name
            ),
            None,
        ));
    }
    Ok((tmp, hex(&hasher.finalize())))
}

fn progress_bar(name: &str, len: Option<u64>) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{msg:>24} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} ({eta})",
        ),
        None => (
            ProgressBar::no_length(),
            "{msg:>24} {bytes} {binary_bytes_per_sec} ({elapsed})",
        ),
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(name.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A local HTTP server on 127.0.0.1 answering every request with `handler(n, path)`, where
    /// `n` counts requests from 1.
    struct TestServer {
        base: String,
        hits: Arc<AtomicUsize>,
        server: Arc<tiny_http::Server>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl TestServer {
        fn start<F>(handler: F) -> Self
        where
            F: Fn(usize, &str) -> (u16, Vec<u8>) + Send + 'static,
        {
            let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
            let addr = server.server_addr().to_ip().unwrap();
            let hits = Arc::new(AtomicUsize::new(0));
            let (srv, count) = (Arc::clone(&server), Arc::clone(&hits));
            let thread = std::thread::spawn(move || {
                for request in srv.incoming_requests() {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let (status, body) = handler(n, request.url());
                    let response = tiny_http::Response::from_data(body).with_status_code(status);
                    let _ = request.respond(response);
                }
            });
            Self {
                base: format!("http://{addr}"),
                hits,
                server,
                thread: Some(thread),
            }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn remote(name: &'static str, bytes: &[u8]) -> RemoteFile {
        RemoteFile {
            name,
            url: "https://data.example.org/corpora/v1/file.bin",
            sha256: sha256_hex(bytes).leak(),
            size: Some(bytes.len() as u64),
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), sha256_hex(b"abc"));
    }

    #[test]
    fn cache_dir_prefers_env_then_platform_then_local() {
        let platform = Some(PathBuf::from("/home/u/.cache"));
        assert_eq!(
            cache_dir_from(Some("/data/cache".into()), platform.clone()),
            PathBuf::from("/data/cache")
        );
        assert_eq!(
            cache_dir_from(Some("".into()), platform.clone()),
            PathBuf::from("/home/u/.cache/repro")
        );
        assert_eq!(
            cache_dir_from(None, platform),
            PathBuf::from("/home/u/.cache/repro")
        );
        assert_eq!(cache_dir_from(None, None), PathBuf::from(".repro-cache"));
    }

    #[test]
    fn mirror_replaces_scheme_and_host_only() {
        let url = "http://www.statmt.org/wmt13/training.tgz?x=1";
        assert_eq!(resolve_url_with(url, None).unwrap(), url);
        assert_eq!(
            resolve_url_with(url, Some("http://127.0.0.1:8080")).unwrap(),
            "http://127.0.0.1:8080/wmt13/training.tgz?x=1"
        );
        assert_eq!(
            resolve_url_with(url, Some("https://mirror.example.org/repro/")).unwrap(),
            "https://mirror.example.org/repro/wmt13/training.tgz?x=1"
        );
        assert!(resolve_url_with(url, Some("ftp://mirror")).is_err());
        assert!(resolve_url_with("not a url", None).is_err());
    }

    #[test]
    fn invalid_pins_are_rejected_before_any_request() {
        let tmp = tempfile::tempdir().unwrap();
        let mut file = remote("ok.bin", b"x");
        file.sha256 = "abc";
        let err = fetch_from(&file, tmp.path(), Some("http://127.0.0.1:9")).unwrap_err();
        assert!(err.to_string().contains("invalid SHA-256"), "{err:#}");
        let file = remote("../escape", b"x");
        assert!(fetch_from(&file, tmp.path(), Some("http://127.0.0.1:9")).is_err());
    }

    #[test]
    fn fresh_download_then_cache_hit_without_request() {
        let body = b"hello, corpus\n".repeat(1000);
        let served = body.clone();
        let server = TestServer::start(move |_, path| {
            assert_eq!(path, "/corpora/v1/file.bin");
            (200, served.clone())
        });
        let tmp = tempfile::tempdir().unwrap();
        let file = remote("file.bin", &body);

        let path = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap();
        assert_eq!(path, tmp.path().join("file.bin"));
        assert_eq!(fs::read(&path).unwrap(), body);
        assert_eq!(server.hits(), 1);
        assert_eq!(
            files_in(tmp.path()),
            vec!["file.bin"],
            "no temporary file left"
        );

        let again = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap();
        assert_eq!(again, path);
        assert_eq!(
            server.hits(),
            1,
            "a valid cached file is never downloaded again"
        );
    }

    #[test]
    fn corrupt_cache_is_replaced() {
        let body = b"the real bytes".to_vec();
        let served = body.clone();
        let server = TestServer::start(move |_, _| (200, served.clone()));
        let tmp = tempfile::tempdir().unwrap();
        let file = remote("data.txt", &body);
        // Same size, different content: only the hash can tell.
        fs::write(tmp.path().join("data.txt"), b"the fake bytes").unwrap();

        let path = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap();
        assert_eq!(fs::read(path).unwrap(), body);
        assert_eq!(server.hits(), 1);
        assert_eq!(files_in(tmp.path()), vec!["data.txt"]);
    }

    #[test]
    fn wrong_checksum_is_an_error_and_leaves_nothing() {
        let server = TestServer::start(|_, _| (200, b"tampered".to_vec()));
        let tmp = tempfile::tempdir().unwrap();
        let mut file = remote("x.tgz", b"original");
        file.size = None;

        let err = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("checksum mismatch for x.tgz"), "{msg}");
        assert!(
            msg.contains(&format!("{}/corpora/v1/file.bin", server.base)),
            "{msg}"
        );
        assert!(msg.contains(file.sha256), "{msg}");
        assert!(msg.contains(&sha256_hex(b"tampered")), "{msg}");
        assert!(files_in(tmp.path()).is_empty(), "nothing left behind");
    }

    #[test]
    fn server_error_is_retried() {
        let body = b"eventually".to_vec();
        let served = body.clone();
        let server = TestServer::start(move |n, _| {
            if n == 1 {
                (503, b"busy".to_vec())
            } else {
                (200, served.clone())
            }
        });
        let tmp = tempfile::tempdir().unwrap();
        let file = remote("retry.bin", &body);

        let path = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap();
        assert_eq!(fs::read(path).unwrap(), body);
        assert_eq!(server.hits(), 2);
    }

    #[test]
    fn not_found_is_a_clear_error_without_retry() {
        let server = TestServer::start(|_, _| (404, b"no such file".to_vec()));
        let tmp = tempfile::tempdir().unwrap();
        let file = remote("missing.bin", b"whatever");

        let err = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("HTTP 404 Not Found for missing.bin"), "{msg}");
        assert!(msg.contains("/corpora/v1/file.bin"), "{msg}");
        assert_eq!(server.hits(), 1, "4xx is not retried");
        assert!(files_in(tmp.path()).is_empty());
    }

    #[test]
    fn persistent_server_errors_give_up() {
        let server = TestServer::start(|_, _| (500, Vec::new()));
        let tmp = tempfile::tempdir().unwrap();
        let file = remote("down.bin", b"x");
        let err = fetch_from(&file, tmp.path(), Some(&server.base)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("failed after {MAX_ATTEMPTS} attempts")),
            "{msg}"
        );
        assert!(msg.contains("HTTP 500"), "{msg}");
        assert_eq!(server.hits(), MAX_ATTEMPTS as usize);
        assert!(files_in(tmp.path()).is_empty());
    }
}
