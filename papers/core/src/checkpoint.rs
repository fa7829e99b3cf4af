//! Checkpoints: one step-stamped directory per save, and a pointer switched last.
//!
//! ```text
//! <run dir>/                     one training (a configuration and a seed)
//!   LATEST                       "step-000200": the newest complete checkpoint
//!   step-000200/
//!     config.json                the run's identity: paper, scale, seed, data + checksum, config, key
//!     model.bpk  optimizer.bpk   burn records
//!     state.json                 the loop's state: step, curves, tokens, times
//!     tokenizer.json             the run's tokenizer (Hugging Face format), when it has one
//! ```
//!
//! A checkpoint is written into a hidden staging directory, renamed into place, and only then
//! named by `LATEST` (itself written atomically); older step directories are removed after the
//! switch. A crash at any point leaves `LATEST` naming a complete checkpoint (or nothing), so a
//! step-k+100 model can never be paired with a step-k state.
//!
//! A checkpoint is keyed by a hash of everything that determines its numbers ([`RunIdentity`]);
//! resuming from the checkpoint of another configuration is refused with the fields that differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic;
use crate::run::Scale;

/// The pointer file naming the newest complete checkpoint.
pub const POINTER: &str = "LATEST";
/// The run's identity ([`StoredIdentity`]), in every step directory.
pub const CONFIG: &str = "config.json";
/// The model's burn record.
pub const MODEL: &str = "model.bpk";
/// The optimizer's burn record.
pub const OPTIMIZER: &str = "optimizer.bpk";
/// The training loop's state ([`crate::train::TrainingState`]).
pub const STATE: &str = "state.json";
/// The run's tokenizer, Hugging Face `tokenizers` JSON.
pub const TOKENIZER: &str = "tokenizer.json";

/// Everything that determines a training's numbers. Two runs with equal identities (up to
/// [`RunIdentity::label`], a display name) compute the same numbers on one machine and backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// Paper id (`attention`).
    pub paper: String,
    /// Display name of the run (`base`, `h1`); not part of the key, so that one configuration
    /// reached under two names is one run.
    pub label: String,
    /// Scale the run belongs to.
    pub scale: Scale,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
    /// Dataset name.
    pub dataset: String,
    /// SHA-256 of the dataset as read.
    pub dataset_sha256: String,
    /// The run's whole configuration (model, optimisation, data settings), as JSON.
    pub config: serde_json::Value,
}

/// A short hash of a [`RunIdentity`] without its label: 16 hex digits of SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunKey(pub String);

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunIdentity {
    /// The key: a hash of the canonical JSON of everything but the label (`serde_json` writes
    /// maps sorted, so equal values hash equally).
    pub fn key(&self) -> RunKey {
        let canonical = serde_json::json!({
            "paper": self.paper,
            "scale": self.scale,
            "seed": self.seed,
            "dataset": self.dataset,
            "dataset_sha256": self.dataset_sha256,
            "config": self.config,
        });
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        RunKey(format!("{digest:x}")[..16].to_string())
    }

    /// The fields in which `other` differs from `self`, as `path: ours → theirs` lines.
    pub fn differences(&self, other: &RunIdentity) -> Vec<String> {
        let mut out = Vec::new();
        let ours = flatten(&serde_json::to_value(self).unwrap_or_default());
        let theirs = flatten(&serde_json::to_value(other).unwrap_or_default());
        let keys: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
        for key in keys {
            if key == "label" {
                continue;
            }
            let (a, b) = (ours.get(key), theirs.get(key));
            if a != b {
                let show =
                    |v: Option<&String>| v.cloned().unwrap_or_else(|| "(absent)".to_string());
                out.push(format!("{key}: {} → {}", show(a), show(b)));
            }
        }
        out
    }
}

/// `value` as `a.b.c → leaf` pairs.
fn flatten(value: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// What `config.json` holds: the identity and its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredIdentity {
    /// [`RunIdentity::key`] when written.
    pub key: RunKey,
    /// The identity.
    #[serde(flatten)]
    pub identity: RunIdentity,
}

/// The directory of one training run (see the module docs for its layout).
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// One complete checkpoint: a step directory named by the pointer.
#[derive(Debug, Clone)]
pub struct StepDir {
    /// The directory (`…/step-000200`).
    pub path: PathBuf,
    /// The step it holds.
    pub step: usize,
}

fn step_name(step: usize) -> String {
    format!("step-{step:06}")
}

impl RunDir {
    /// The run directory at `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest complete checkpoint, `None` when there is none yet. A pointer naming a missing
    /// directory is an error (the run directory was edited by hand).
    pub fn latest(&self) -> anyhow::Result<Option<StepDir>> {
        let pointer = self.path.join(POINTER);
        let name = match std::fs::read_to_string(&pointer) {
            Ok(name) => name.trim().to_string(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", pointer.display()));
            }
        };
        let step = name
            .strip_prefix("step-")
            .and_then(|digits| digits.parse::<usize>().ok())
            .with_context(|| {
                format!("{} names `{name}`, not a step directory", pointer.display())
            })?;
        let path = self.path.join(&name);
        anyhow::ensure!(
            path.join(CONFIG).is_file(),
            "{} names {}, which is incomplete or missing; delete {} to start over",
            pointer.display(),
            path.display(),
            self.path.display()
        );
        Ok(Some(StepDir { path, step }))
    }

    /// Writes the checkpoint of `step`: `write` fills a staging directory, which is renamed to
    /// `step-NNNNNN`; then the pointer is switched to it and older step directories are removed.
    /// If `write` fails, the pointer still names the previous checkpoint.
    pub fn save(
        &self,
        step: usize,
        write: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<StepDir> {
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        let name = step_name(step);
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempdir_in(&self.path)
            .with_context(|| format!("creating a staging directory in {}", self.path.display()))?;
        write(staging.path())?;
        let target = self.path.join(&name);
        if target.exists() {
            // Left by a run that crashed before switching the pointer to it.
            std::fs::remove_dir_all(&target)
                .with_context(|| format!("removing stale {}", target.display()))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &target)
            .with_context(|| format!("renaming {} to {}", staged.display(), target.display()))?;
        atomic::write_atomic(&self.path.join(POINTER), name.as_bytes())
            .with_context(|| format!("switching {}", self.path.join(POINTER).display()))?;
        self.remove_all_but(&name);
        Ok(StepDir { path: target, step })
    }

    /// Removes every step and staging directory but `keep` (best effort: a leftover directory
    /// wastes space, it never changes what resumes).
    fn remove_all_but(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with("step-") || name.ends_with(".partial");
            if ours && name != keep {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl StepDir {
    /// A file of this checkpoint.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads a JSON file of this checkpoint, with a clear error when it is corrupt.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "corrupt checkpoint file {} (delete the run directory to start over)",
                path.display()
            )
        })
    }

    /// The identity stored with this checkpoint.
    pub fn identity(&self) -> anyhow::Result<StoredIdentity> {
        self.read_json(CONFIG)
    }
}

/// Writes `value` as pretty JSON to `dir/name`.
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> anyhow::Result<()> {
    let path = dir.join(name);
    let json = serde_json::to_vec_pretty(value)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

/// Refuses to resume from `found` on behalf of `expected` when they are different runs, naming
/// the fields that differ.
pub fn ensure_same_run(
    found: &StoredIdentity,
    expected: &RunIdentity,
    dir: &Path,
) -> anyhow::Result<()> {
    if found.identity.key() == expected.key() {
        return Ok(());
    }
    let differences = found.identity.differences(expected);
    anyhow::bail!(
        "refusing to resume: the checkpoint in {} belongs to another configuration \
         ({}); run without --resume to train from scratch, or point --checkpoints elsewhere",
        dir.display(),
        if differences.is_empty() {
            format!("key {} vs {}", found.key, expected.key())
        } else {
            format!("checkpoint → this run: {}", differences.join("; "))
        }
    )
}

/// A checkpoint found on disk, as `repro checkpoints` lists it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The run directory (what `repro translate --checkpoint` takes).
    pub run_dir: PathBuf,
    /// Its newest complete checkpoint.
    pub step_dir: StepDir,
    /// Who it is.
    pub identity: StoredIdentity,
    /// The loop state: steps done and planned, the dev-loss curve.
    pub state: crate::train::TrainingState,
}

/// Every run directory under `root` (searched four levels deep) with a complete checkpoint,
/// sorted by path. Unreadable ones are skipped.
pub fn find_all(root: &Path) -> Vec<Found> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<Found>) {
        let run = RunDir::new(dir);
        if let Ok(Some(step_dir)) = run.latest() {
            if let (Ok(identity), Ok(state)) = (step_dir.identity(), step_dir.read_json(STATE)) {
                out.push(Found {
                    run_dir: dir.to_path_buf(),
                    step_dir,
                    identity,
                    state,
                });
            }
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            walk(&dir, depth - 1, out);
        }
    }
    let mut out = Vec::new();
    walk(root, 4, &mut out);
    out
}

/// Opens the run directory `dir` for an application (`repro translate`): its newest checkpoint
/// and identity, with errors that say what `dir` should be.
pub fn open(dir: &Path) -> anyhow::Result<(StepDir, StoredIdentity)> {
    anyhow::ensure!(
        dir.is_dir(),
        "no checkpoint at {}: `repro checkpoints` lists the trained runs",
        dir.display()
    );
    let step_dir = RunDir::new(dir).latest()?.with_context(|| {
        format!(
            "{} holds no complete checkpoint (no {POINTER} file): pass a run directory as \
             `repro checkpoints` lists them",
            dir.display()
        )
    })?;
    let identity = step_dir.identity()?;
    Ok((step_dir, identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(steps: u64) -> RunIdentity {
        RunIdentity {
            paper: "p".into(),
            label: "base".into(),
            scale: Scale::Tiny,
            seed: 1,
            dataset: "d".into(),
            dataset_sha256: "abc".into(),
            config: serde_json::json!({"training": {"steps": steps, "lr": 0.5}}),
        }
    }

    #[test]
    fn the_key_ignores_the_label_and_sees_every_config_field() {
        let mut renamed = identity(30);
        renamed.label = "h8".into();
        assert_eq!(identity(30).key(), renamed.key());
        assert_ne!(identity(30).key(), identity(40).key());
        let mut reseeded = identity(30);
        reseeded.seed = 2;
        assert_ne!(identity(30).key(), reseeded.key());
    }

    #[test]
    fn differences_name_the_changed_fields() {
        let differences = identity(30).differences(&identity(40));
        assert_eq!(
            differences,
            vec!["config.training.steps: 30 → 40".to_string()]
        );
        let stored = StoredIdentity {
            key: identity(30).key(),
            identity: identity(30),
        };
        let error = ensure_same_run(&stored, &identity(40), Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("config.training.steps: 30 → 40"), "{error}");
        ensure_same_run(&stored, &identity(30), Path::new("/x")).unwrap();
    }

    fn save(run: &RunDir, step: usize, body: &str) -> anyhow::Result<StepDir> {
        run.save(step, |dir| {
            write_json(
                dir,
                CONFIG,
                &StoredIdentity {
                    key: identity(30).key(),
                    identity: identity(30),
                },
            )?;
            std::fs::write(dir.join("body"), body)?;
            Ok(())
        })
    }

    #[test]
    fn the_pointer_names_the_newest_complete_checkpoint_only() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path().join("run"));
        assert!(run.latest().unwrap().is_none());
        save(&run, 10, "ten").unwrap();
        save(&run, 20, "twenty").unwrap();
        let latest = run.latest().unwrap().unwrap();
        assert_eq!(latest.step, 20);
        assert_eq!(
            std::fs::read_to_string(latest.file("body")).unwrap(),
            "twenty"
        );
        // Older step directories are gone.
        assert!(!tmp.path().join("run/step-000010").exists());

        // A write that fails half-way (a crash between files) leaves the pointer where it was
        // and no staging directory behind.
        let failed = run.save(30, |dir| {
            std::fs::write(dir.join("body"), "thirty, half written")?;
            anyhow::bail!("injected crash")
        });
        assert!(failed.is_err());
        let latest = run.latest().unwrap().unwrap();
        assert_eq!(latest.step, 20);
        assert_eq!(
            std::fs::read_to_string(latest.file("body")).unwrap(),
            "twenty"
        );
        let names: Vec<String> = std::fs::read_dir(run.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
    }

    #[test]
    fn a_pointer_to_a_missing_directory_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(POINTER), "step-000040").unwrap();
        let error = RunDir::new(tmp.path()).latest().unwrap_err().to_string();
        assert!(error.contains("incomplete or missing"), "{error}");
        std::fs::write(tmp.path().join(POINTER), "garbage").unwrap();
        assert!(RunDir::new(tmp.path()).latest().is_err());
    }
}
