//! The loop on a small regression model: resuming after a crash between checkpoint files, the
//! step a resumed run restarts from, refusing another configuration, divergence.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor, TensorData};

use super::*;
use crate::checkpoint::RunIdentity;
use crate::determinism::{Dropout, init_on_cpu};
use crate::run::Scale;

#[derive(Module, Debug)]
struct Regressor {
    linear: Linear,
    dropout: Dropout,
}

fn build(device: &Device) -> Regressor {
    Regressor {
        linear: LinearConfig::new(4, 1).init(device),
        dropout: Dropout::new(0.2),
    }
}

impl Regressor {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear.forward(self.dropout.forward(x))
    }
}

/// y = x · (1, -2, 3, 0.5) on inputs drawn from the step number.
struct Task {
    device: Device,
    learning_rate: f64,
}

fn batch(seed: u64, rows: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let x: Vec<f32> = (0..rows * 4).map(|_| rng.f32() * 2.0 - 1.0).collect();
    let y: Vec<f32> = x
        .chunks(4)
        .map(|r| r[0] - 2.0 * r[1] + 3.0 * r[2] + 0.5 * r[3])
        .collect();
    (
        Tensor::from_data(TensorData::new(x, [rows, 4]), device),
        Tensor::from_data(TensorData::new(y, [rows, 1]), device),
    )
}

impl Objective<Regressor> for Task {
    fn step_loss(&self, model: &Regressor, step: usize) -> anyhow::Result<StepLoss> {
        let (x, y) = batch(step as u64, 16, &self.device);
        let error = model.forward(x) - y;
        Ok(StepLoss {
            loss: (error.clone() * error).mean(),
            tokens: 16,
        })
    }

    fn learning_rate(&self, _step: usize) -> f64 {
        self.learning_rate
    }

    fn dev_loss(&self, model: &Regressor) -> anyhow::Result<f64> {
        let (x, y) = batch(u64::MAX, 64, &Device::flex());
        let error = model.forward(x) - y;
        Ok((error.clone() * error).mean().into_scalar())
    }
}

fn identity(steps: usize) -> RunIdentity {
    RunIdentity {
        paper: "test".into(),
        label: "regressor".into(),
        scale: Scale::Tiny,
        seed: 3,
        dataset: "synthetic".into(),
        dataset_sha256: "none".into(),
        config: serde_json::json!({ "steps": steps }),
    }
}

fn run(
    dir: &std::path::Path,
    steps: usize,
    resume: bool,
    fail_at: Option<(usize, usize)>,
    learning_rate: f64,
) -> anyhow::Result<Trained<Regressor>> {
    let device = Device::flex().autodiff();
    let training = Training {
        name: "regressor".into(),
        seed: 3,
        schedule: Schedule {
            steps,
            eval_every: 5,
            checkpoint_every: 10,
        },
        model: init_on_cpu(3, &device, build),
        optimizer: AdamConfig::new().init(),
        checkpoints: Some(Checkpoints {
            dir: RunDir::new(dir),
            identity: identity(steps),
            tokenizer: Some("{\"tokenizer\": true}".into()),
            resume,
            fail_at,
        }),
    };
    train(
        training,
        &Task {
            device,
            learning_rate,
        },
        &Progress::hidden(),
    )
}

/// Curves (train, dev), tokens and weights: what must be equal between an uninterrupted and a
/// resumed run.
type Numbers = (Vec<(f64, f64)>, Vec<(f64, f64)>, u64, Vec<f32>);

fn numbers(trained: &Trained<Regressor>) -> Numbers {
    let weights = trained
        .model
        .linear
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    (
        trained.state.train_loss.clone(),
        trained.state.dev_loss.clone(),
        trained.state.tokens,
        weights,
    )
}

#[test]
fn a_crash_between_checkpoint_files_resumes_to_the_uninterrupted_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = run(&tmp.path().join("reference"), 30, false, None, 0.05).unwrap();
    assert_eq!(reference.resumed_from, None);
    assert!(reference.state.dev_loss.last().unwrap().1 < reference.state.dev_loss[0].1);

    // The write of step 20 dies after its first file (the model): step 20's model must not be
    // paired with step 10's state, so the run resumes from step 10.
    let crashed = tmp.path().join("crashed");
    let error = run(&crashed, 30, false, Some((20, 1)), 0.05)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("injected failure"), "{error}");
    assert_eq!(RunDir::new(&crashed).latest().unwrap().unwrap().step, 10);

    let resumed = run(&crashed, 30, true, None, 0.05).unwrap();
    assert_eq!(
        resumed.resumed_from,
        Some(10),
        "it really resumed, from step 10"
    );
    assert_eq!(numbers(&resumed), numbers(&reference));
    // The tokenizer travels with the checkpoint.
    let latest = RunDir::new(&crashed).latest().unwrap().unwrap();
    assert_eq!(latest.step, 30);
    assert!(latest.file(crate::checkpoint::TOKENIZER).is_file());
}

#[test]
fn resuming_a_finished_run_trains_nothing_and_gives_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let first = run(tmp.path(), 20, false, None, 0.05).unwrap();
    let again = run(tmp.path(), 20, true, None, 0.05).unwrap();
    assert_eq!(again.resumed_from, Some(20));
    assert_eq!(numbers(&first), numbers(&again));
}

#[test]
fn resume_refuses_the_checkpoint_of_another_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), 20, false, None, 0.05).unwrap();
    let error = run(tmp.path(), 30, true, None, 0.05)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("refusing to resume"), "{error}");
    assert!(error.contains("config.steps: 20 → 30"), "{error}");
}

#[test]
fn divergence_is_an_error_that_names_the_step() {
    let tmp = tempfile::tempdir().unwrap();
    let error = run(tmp.path(), 30, false, None, 1e30)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("diverged at step"), "{error}");
}

#[test]
fn training_and_evaluation_time_are_reported_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let trained = run(tmp.path(), 20, false, None, 0.05).unwrap();
    assert_eq!(trained.state.tokens, 20 * 16);
    assert!(trained.state.train_seconds > 0.0 && trained.state.eval_seconds > 0.0);
    assert_eq!(trained.state.dev_loss.len(), 4);
    assert_eq!(trained.parameters, 5);
}
