//! Records what computed the numbers, for provenance: the compiler's version and the versions of
//! burn and tokenizers this build resolved (from the workspace's Cargo.lock).

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=REPRO_RUSTC_VERSION={version}");

    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock_path = Path::new(&manifest).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    for (package, variable) in [
        ("burn", "REPRO_BURN_VERSION"),
        ("tokenizers", "REPRO_TOKENIZERS_VERSION"),
    ] {
        println!(
            "cargo:rustc-env={variable}={}",
            locked_version(&lock, package).unwrap_or("unknown")
        );
    }
}

/// The version of `package` in a Cargo.lock: the `version` line after `name = "<package>"`.
fn locked_version<'a>(lock: &'a str, package: &str) -> Option<&'a str> {
    let name = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    lines.find(|line| line.trim() == name)?;
    lines
        .next()?
        .trim()
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}
