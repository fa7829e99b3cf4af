//! The side-by-side speed benchmark (`repro bench`, `make bench`): a paper's `small` model
//! measured on real batches of its own data, by this suite and by a PyTorch twin
//! (`bench/twins.py`) that reads the same workload file, alternately, each in a process of its own.
//!
//! A paper supplies the workload ([`crate::Paper::bench_workload`]) and runs its side of it
//! ([`crate::Paper::bench_measure`]); this module holds the plain data both sides exchange
//! (the workload file and the one JSON line each measurement prints, formats in
//! `bench/README.md`), the timing loop, and the machine facts the report needs: peak resident
//! memory and the processor's fp32 peak.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use repro_kernels::KERNELS_ENV;

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Forward, loss, backward and optimiser step on each batch.
    Train,
    /// Forward pass and loss in evaluation mode (no gradients): scoring, as evaluation does.
    Score,
}

impl Phase {
    /// Both phases.
    pub const ALL: [Phase; 2] = [Phase::Train, Phase::Score];

    /// `train` or `score`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Train => "train",
            Phase::Score => "score",
        }
    }

    /// Matrix-product FLOPs of the phase per forward FLOP: the backward pass costs two forward
    /// passes (one product for the input's gradient, one for the weight's).
    pub fn flops_per_forward(self) -> f64 {
        match self {
            Phase::Train => 3.0,
            Phase::Score => 1.0,
        }
    }
}

impl std::str::FromStr for Phase {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Self> {
        Phase::ALL
            .into_iter()
            .find(|phase| phase.name() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown phase `{text}`; choose train or score"))
    }
}

/// One batch of a workload: the tokens both sides count, the forward FLOPs, and the paper's own
/// fields (padded id rows), kept as JSON because the twin reads them too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadBatch {
    /// Tokens counted for tokens/s: what the paper's training loop counts (padding excluded).
    pub tokens: u64,
    /// Floating-point operations of one forward pass over the batch, matrix products only
    /// (2 per multiply-add, padding included: both implementations compute it).
    pub forward_flops: f64,
    /// The paper's fields (`input_ids`, `targets`, …).
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl WorkloadBatch {
    /// The batch's field `name`, decoded.
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let value = self
            .data
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("workload batch has no field `{name}`"))?;
        serde_json::from_value(value.clone())
            .map_err(|error| anyhow::anyhow!("workload batch field `{name}`: {error}"))
    }
}

/// The optimiser both sides step with (the paper's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    /// `adam` or `adamw`.
    pub name: String,
    /// A constant learning rate (the schedules change it per step at no cost).
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
    /// Gradient clipping norm, if the paper clips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
    /// `per_parameter` (what burn's clipping does) or `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_mode: Option<String>,
}

/// What a paper's `small` model is measured on: its configuration and real batches of its
/// `small`-scale data, written once and read by both implementations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    /// The paper id (`gpt3`); the twin picks its model by it.
    pub model: String,
    /// One line for the report: the model and the batch shapes.
    pub description: String,
    /// Threads both implementations use.
    pub threads: usize,
    /// Parameters of our model; the twin checks that it has exactly as many.
    pub parameters: usize,
    /// Batches of each phase run untimed first.
    pub warmup: usize,
    /// The timed batches are run again until this many seconds have passed (small models'
    /// batches take milliseconds; a measurement needs a second or two to be steady).
    #[serde(default)]
    pub min_seconds: f64,
    /// The model's hyper-parameters (the paper's config names).
    pub config: serde_json::Value,
    /// The optimiser of the training phase.
    pub optimizer: OptimizerSpec,
    /// Training batches, one per step.
    pub train: Vec<WorkloadBatch>,
    /// Scoring batches.
    pub score: Vec<WorkloadBatch>,
}

impl Workload {
    /// The batches of `phase`.
    pub fn batches(&self, phase: Phase) -> &[WorkloadBatch] {
        match phase {
            Phase::Train => &self.train,
            Phase::Score => &self.score,
        }
    }

    /// The model configuration, decoded.
    pub fn config<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.config.clone())
            .map_err(|error| anyhow::anyhow!("workload config of `{}`: {error}", self.model))
    }
}

/// How many batches a workload holds and how many are warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkloadSize {
    /// Timed batches per phase.
    pub steps: usize,
    /// Untimed batches before them.
    pub warmup: usize,
    /// Threads both sides use.
    pub threads: usize,
    /// Seconds each measurement runs at least.
    pub min_seconds: f64,
}

/// One measurement: the JSON line either implementation prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// `repro` or `pytorch`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// The paper id.
    pub model: String,
    /// The phase timed.
    pub phase: Phase,
    /// Tokens over the timed batches.
    pub tokens: u64,
    /// Seconds over the timed batches.
    pub seconds: f64,
    /// `tokens / seconds`.
    pub tokens_per_s: f64,
    /// Timed batches.
    pub steps: usize,
    /// Threads used.
    pub threads: usize,
    /// Parameters of the model.
    pub parameters: usize,
    /// Loss of the last batch (a sanity check: both sides learn or score the same task).
    pub final_loss: f64,
    /// Peak resident memory of the measuring process, MiB.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// The PyTorch version (twin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
}

/// Times `step` over the batches of `phase`: the first `workload.warmup` untimed, the rest
/// timed, and repeated until `workload.min_seconds` have passed. Returns the measurement of
/// implementation `repro`; `step` returns the batch's loss.
pub fn time_steps(
    workload: &Workload,
    phase: Phase,
    parameters: usize,
    mut step: impl FnMut(&WorkloadBatch) -> anyhow::Result<f64>,
) -> anyhow::Result<Measurement> {
    let batches = workload.batches(phase);
    anyhow::ensure!(
        batches.len() > workload.warmup,
        "{} {}: {} batches, not more than the {} warm-up ones",
        workload.model,
        phase.name(),
        batches.len(),
        workload.warmup
    );
    let mut run = |index: usize, batch: &WorkloadBatch| -> anyhow::Result<(f64, f64)> {
        let started = Instant::now();
        let loss = step(batch)?;
        let elapsed = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            loss.is_finite(),
            "{} {}: loss {loss} at batch {index}",
            workload.model,
            phase.name()
        );
        Ok((loss, elapsed))
    };
    for (index, batch) in batches[..workload.warmup].iter().enumerate() {
        run(index, batch)?;
    }
    let (mut tokens, mut seconds, mut steps, mut final_loss) = (0u64, 0f64, 0usize, f64::NAN);
    loop {
        for (index, batch) in batches.iter().enumerate().skip(workload.warmup) {
            let (loss, elapsed) = run(index, batch)?;
            tokens += batch.tokens;
            seconds += elapsed;
            steps += 1;
            final_loss = loss;
        }
        if seconds >= workload.min_seconds {
            break;
        }
    }
    Ok(Measurement {
        implementation: "repro".into(),
        model: workload.model.clone(),
        phase,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds.max(1e-12),
        steps,
        threads: rayon::current_num_threads(),
        parameters,
        final_loss,
        peak_rss_mb: peak_rss_mb(),
        torch: None,
    })
}

/// Peak resident memory of this process in MiB (`VmHWM`; Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The processor's model name (`/proc/cpuinfo`), or the architecture where that is unknown.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The widest fused multiply-add the processor runs (what gemm dispatches to at run time).
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
        "sse2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

pub use repro_kernels::fp32_peak_gflops;

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        let batch = |tokens| WorkloadBatch {
            tokens,
            forward_flops: 10.0,
            data: serde_json::from_str(r#"{"input_ids": [[1, 2], [3, 4]]}"#).unwrap(),
        };
        Workload {
            model: "gpt3".into(),
            description: "test".into(),
            threads: 1,
            parameters: 7,
            warmup: 1,
            min_seconds: 0.0,
            config: serde_json::json!({"n_embd": 4}),
            optimizer: OptimizerSpec {
                name: "adam".into(),
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.98,
                eps: 1e-9,
                weight_decay: 0.0,
                clip_norm: None,
                clip_mode: None,
            },
            train: vec![batch(100), batch(5), batch(7)],
            score: vec![batch(1)],
        }
    }

    #[test]
    fn batch_fields_sit_beside_the_counts_in_the_file() {
        let text = serde_json::to_string(&workload()).unwrap();
        assert!(text.contains(r#"{"tokens":100,"forward_flops":10.0,"input_ids":[[1,2],[3,4]]}"#));
        let back: Workload = serde_json::from_str(&text).unwrap();
        let ids: Vec<Vec<u32>> = back.train[0].field("input_ids").unwrap();
        assert_eq!(ids, vec![vec![1, 2], vec![3, 4]]);
        let missing = back.train[0].field::<Vec<u32>>("targets").unwrap_err();
        assert!(missing.to_string().contains("no field `targets`"));
    }

    #[test]
    fn warm_up_batches_are_run_but_not_counted() {
        let workload = workload();
        let mut seen = Vec::new();
        let measured = time_steps(&workload, Phase::Train, 7, |batch| {
            seen.push(batch.tokens);
            Ok(2.5)
        })
        .unwrap();
        assert_eq!(seen, vec![100, 5, 7]);
        assert_eq!(measured.tokens, 12);
        assert_eq!(measured.steps, 2);
        assert_eq!(measured.final_loss, 2.5);
        assert_eq!(measured.implementation, "repro");
        let mut again = workload.clone();
        again.min_seconds = 0.05;
        let mut passes = 0;
        let repeated = time_steps(&again, Phase::Train, 7, |batch| {
            passes += usize::from(batch.tokens == 5);
            std::thread::sleep(std::time::Duration::from_millis(10));
            Ok(1.0)
        })
        .unwrap();
        assert!(passes >= 2, "the timed batches ran {passes} times");
        assert_eq!(repeated.steps, 2 * passes);
        assert!(repeated.seconds >= 0.05);
        let too_few = time_steps(&workload, Phase::Score, 7, |_| Ok(1.0)).unwrap_err();
        assert!(too_few.to_string().contains("not more than the 1 warm-up"));
        let diverged = time_steps(&workload, Phase::Train, 7, |_| Ok(f64::NAN)).unwrap_err();
        assert!(diverged.to_string().contains("loss NaN at batch 0"));
    }

    #[test]
    fn the_twin_line_parses_as_a_measurement() {
        let line = r#"{"impl": "pytorch", "model": "gpt3", "phase": "train", "tokens": 2040,
            "seconds": 0.25, "tokens_per_s": 8160.0, "steps": 1, "torch": "2.15.0+cu132",
            "threads": 2, "parameters": 1082112, "final_loss": 7.5, "peak_rss_mb": 512.0}"#;
        let measured: Measurement = serde_json::from_str(line).unwrap();
        assert_eq!(measured.phase, Phase::Train);
        assert_eq!(measured.torch.as_deref(), Some("2.15.0+cu132"));
        assert_eq!(measured.peak_rss_mb, Some(512.0));
    }

    #[test]
    fn the_fp32_peak_is_positive_and_memory_is_read() {
        assert!(fp32_peak_gflops(1) > 0.1);
        #[cfg(target_os = "linux")]
        assert!(peak_rss_mb().unwrap() > 1.0);
    }
}
