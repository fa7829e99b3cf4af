//! Progress bars, one per phase (tokenizer, training, decoding, scoring).
//!
//! Bars draw on standard error only when it is a terminal; otherwise each phase prints one line
//! when it ends, so that CI logs and `tee` stay readable.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Creates the bars of a run.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    enabled: bool,
    terminal: bool,
}

impl Progress {
    /// Bars on standard error; `enabled = false` silences everything (tests).
    pub fn new(enabled: bool) -> Self {
        let terminal = enabled && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            enabled,
            terminal,
        }
    }

    /// A silent instance.
    pub fn hidden() -> Self {
        Self::new(false)
    }

    /// A bar for a phase of `total` steps of `unit` (`steps`, `sentences`, `tokens`).
    pub fn phase(&self, name: &str, total: u64, unit: &str) -> Phase {
        let bar = self.multi.add(ProgressBar::new(total));
        let template = format!(
            "{{prefix:>24.bold}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}}<{{eta}})"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        if self.terminal {
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        Phase {
            bar,
            name: name.to_string(),
            enabled: self.enabled,
            terminal: self.terminal,
        }
    }

    /// Prints a line above the bars (or to standard error when bars are hidden).
    pub fn println(&self, line: &str) {
        if !self.enabled {
            return;
        }
        if self.terminal {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

/// One phase's bar.
pub struct Phase {
    bar: ProgressBar,
    name: String,
    enabled: bool,
    terminal: bool,
}

impl Phase {
    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the position (e.g. after resuming from a checkpoint).
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Sets the trailing message (`loss 3.21, 9.8k tok/s`).
    pub fn message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Ends the phase, leaving a summary line.
    pub fn finish(self, summary: &str) {
        if self.terminal {
            self.bar.finish_with_message(summary.to_string());
        } else {
            self.bar.finish_and_clear();
            if self.enabled {
                eprintln!(
                    "{:>24} done: {summary} ({:.1} s)",
                    self.name,
                    self.bar.elapsed().as_secs_f64()
                );
            }
        }
    }
}
