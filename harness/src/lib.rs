//! The `repro` command line: reproduce papers, compare results, use trained models, score BLEU,
//! follow arXiv (the `repro-arxiv` crate).
//!
//! [`run`] is the whole program with its I/O passed in, so that the end-to-end tests call it
//! in-process and snapshot exactly what a user sees.

pub mod cli;
pub mod commands;
pub mod registry;

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::Parser;

/// A mistake in the command line that clap cannot see (an unknown `--only` experiment): printed
/// like other errors, exit code 2 like clap's usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs `repro` with `args` (program name first); returns the process exit code.
///
/// Errors print as `error: …` with their causes on `stderr` and exit 1; usage errors exit 2 with
/// clap's message (or a [`UsageError`]'s); `--help` and `--version` print to `stdout` and exit 0;
/// a closed pipe on `stdout` (`repro list | head -1`) exits 0.
pub fn run<I, T>(
    args: I,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Plain text: `run` writes to any `Write` (a pipe, a file, a test's buffer), which
            // may not be the terminal whose colours ANSI codes assume.
            let text = error.render().to_string();
            let (stream, code): (&mut dyn Write, i32) = if error.use_stderr() {
                (stderr, 2)
            } else {
                (stdout, 0)
            };
            let _ = write!(stream, "{text}");
            return code;
        }
    };
    let io = cli::Io {
        stdin,
        stdout,
        stderr: &mut *stderr,
    };
    match cli::execute(cli, io) {
        Ok(()) => 0,
        Err(error) if is_broken_pipe(&error) => 0,
        Err(error) if error.downcast_ref::<UsageError>().is_some() => {
            let _ = writeln!(stderr, "error: {error:#}");
            2
        }
        Err(error) => {
            let _ = writeln!(stderr, "error: {error:#}");
            1
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
