//! Shared helpers for the end-to-end tests: run `repro` in-process and render what a user sees.

use std::path::Path;

/// Exit code, standard output and standard error of one `repro` invocation.
pub struct Output {
    /// Process exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `repro` with `args` (without the program name) in-process, with empty standard input.
pub fn repro(args: &[&str]) -> Output {
    repro_with_stdin(args, "")
}

/// Runs `repro` with `args` in-process, `stdin` as its standard input.
pub fn repro_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let argv = std::iter::once("repro").chain(args.iter().copied());
    let code = repro_harness::run(argv, &mut stdin.as_bytes(), &mut stdout, &mut stderr);
    Output {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

impl Output {
    /// The snapshot form: exit code, stdout and stderr, with `dir` replaced by `[TEMP]`.
    pub fn render(&self, dir: Option<&Path>) -> String {
        let mut text = format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        );
        if let Some(dir) = dir {
            text = text.replace(&dir.display().to_string(), "[TEMP]");
        }
        text
    }
}

/// The workspace root (where `results/` and `papers/` live).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
