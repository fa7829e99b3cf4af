//! The run plan: which trainings a reproduction needs (configurations × seeds), each trained
//! once however many experiments read it, several at a time.
//!
//! A run is found by its configuration, not by its name: the base model of the heads ablation
//! (`h8`) and of the positional-encoding one (`sinusoidal`) have the same [`RunIdentity`] key as
//! `base`, so they are one training. Each training is deterministic on its own (see
//! [`crate::determinism`]), so results do not depend on `--jobs` or on scheduling.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{RunIdentity, RunKey};
use crate::run::{RunContext, Scale};

/// One training a reproduction needs.
#[derive(Debug, Clone)]
pub struct Run<C> {
    /// Display name (`base`, `h1`); the first name a configuration is planned under is kept.
    pub label: String,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
    /// Everything else that determines the run's numbers.
    pub config: C,
    /// Whether the run is also scored on the test split (dev only otherwise).
    pub with_test: bool,
}

/// What the report records of each training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The run's display name.
    pub label: String,
    /// Its seed.
    pub seed: u64,
    /// Its [`RunKey`] (the checkpoint's `config.json` has the same).
    pub key: RunKey,
    /// Steps trained, in all.
    pub steps: usize,
    /// The step a resumed run continued from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<usize>,
    /// Parameters.
    pub parameters: usize,
    /// Training throughput, real tokens per second over training steps alone.
    pub tokens_per_second: f64,
    /// Seconds in training steps, and in evaluation plus checkpoints.
    pub train_seconds: f64,
    /// See `train_seconds`.
    pub eval_seconds: f64,
    /// Relative dev-loss improvement over the last fifth of training
    /// ([`crate::stats::last_fifth_improvement`]): below [`crate::stats::PLATEAU_THRESHOLD`] the
    /// run has plateaued. NaN (JSON `null`) when the curve is too short to tell.
    #[serde(deserialize_with = "crate::run::nan_or_f64")]
    pub dev_loss_improvement: f64,
    /// Decoded outputs by split (`dev`, `test`), for rescoring and the bootstrap.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hypotheses: BTreeMap<String, Vec<String>>,
}

/// The trainings of one reproduction and their results (`R`, the paper's evaluation of a run).
pub struct Lab<C, R> {
    paper: String,
    scale: Scale,
    dataset: String,
    dataset_sha256: String,
    jobs: usize,
    done: Mutex<BTreeMap<RunKey, R>>,
    records: Mutex<Vec<TrainingRecord>>,
    _config: std::marker::PhantomData<fn(C)>,
}

impl<C, R> Lab<C, R>
where
    C: Serialize + Clone + Send + Sync,
    R: Clone + Send,
{
    /// The plan of `paper` for the run `ctx` describes, on data with checksum `dataset_sha256`.
    pub fn new(ctx: &RunContext, paper: &str, dataset_sha256: &str) -> Self {
        Self {
            paper: paper.to_string(),
            scale: ctx.scale,
            dataset: ctx.dataset.clone(),
            dataset_sha256: dataset_sha256.to_string(),
            jobs: ctx.jobs.max(1),
            done: Mutex::new(BTreeMap::new()),
            records: Mutex::new(Vec::new()),
            _config: std::marker::PhantomData,
        }
    }

    /// Everything that determines `run`'s numbers (stored in its checkpoint).
    pub fn identity(&self, run: &Run<C>) -> RunIdentity {
        RunIdentity {
            paper: self.paper.clone(),
            label: run.label.clone(),
            scale: self.scale,
            seed: run.seed,
            dataset: self.dataset.clone(),
            dataset_sha256: self.dataset_sha256.clone(),
            config: serde_json::to_value(&run.config).unwrap_or_default(),
        }
    }

    /// `run`'s key: equal for equal configurations and seeds, whatever their labels.
    pub fn key(&self, run: &Run<C>) -> RunKey {
        self.identity(run).key()
    }

    /// Trains and evaluates each distinct run of `runs` that is not done yet, `jobs` at a time,
    /// with `work` (which returns the paper's result and the loop's record). Runs planned twice
    /// under two names are done once; `with_test` is merged. The first error stops the workers
    /// from starting new runs and is returned.
    pub fn execute(
        &self,
        runs: Vec<Run<C>>,
        work: impl Fn(&Run<C>, &RunIdentity) -> anyhow::Result<(R, TrainingRecord)> + Sync,
    ) -> anyhow::Result<()> {
        let mut distinct: Vec<(RunKey, Run<C>)> = Vec::new();
        for run in runs {
            let key = self.key(&run);
            match distinct.iter_mut().find(|(known, _)| *known == key) {
                Some((_, planned)) => planned.with_test |= run.with_test,
                None => distinct.push((key, run)),
            }
        }
        let pending: Vec<Run<C>> = {
            let done = lock(&self.done);
            distinct
                .into_iter()
                .filter(|(key, _)| !done.contains_key(key))
                .map(|(_, run)| run)
                .collect()
        };
        let queue = Mutex::new(pending.into_iter());
        let failed = AtomicBool::new(false);
        let workers = self.jobs.min(lock(&queue).len()).max(1);
        let pools = worker_pools(workers)?;
        std::thread::scope(|scope| {
            let handles: Vec<_> = pools
                .iter()
                .map(|pool| {
                    let work = &work;
                    let queue = &queue;
                    let failed = &failed;
                    scope.spawn(move || -> anyhow::Result<()> {
                        let run_queue = || loop {
                            if failed.load(Ordering::SeqCst) {
                                return Ok(());
                            }
                            let Some(run) = lock(queue).next() else {
                                return Ok(());
                            };
                            let identity = self.identity(&run);
                            match work(&run, &identity) {
                                Ok((result, record)) => {
                                    lock(&self.done).insert(identity.key(), result);
                                    lock(&self.records).push(record);
                                }
                                Err(error) => {
                                    failed.store(true, Ordering::SeqCst);
                                    return Err(error);
                                }
                            }
                        };
                        match pool {
                            Some(pool) => pool.install(run_queue),
                            None => run_queue(),
                        }
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a training thread panicked")))
            })
        })
    }

    /// The result of `run`, found by its configuration; an error if it was never executed.
    pub fn result(&self, run: &Run<C>) -> anyhow::Result<R> {
        lock(&self.done)
            .get(&self.key(run))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "run `{}` (seed {}) was not planned by the experiments that read it",
                    run.label,
                    run.seed
                )
            })
    }

    /// The records of every training done, sorted by label and seed.
    pub fn records(&self) -> Vec<TrainingRecord> {
        let mut records = lock(&self.records).clone();
        records.sort_by(|a, b| (&a.label, a.seed).cmp(&(&b.label, b.seed)));
        records
    }
}

/// One thread pool per worker when several trainings run at once, so that each training's
/// kernels (burn-flex parallelises matmuls and copies with rayon) stay on its own share of the
/// cores instead of all workers waking the one global pool for every op. Measured on 2 cores,
/// two BERT `small` pre-trainings of 200 steps at once: 15.5–16.0 s each sharing the global
/// pool, 13.2–14.7 s with a pool each, evaluation 25 % faster. `None` (the global pool) for a
/// single worker.
/// In burn-flex 0.22.1 thread counts change only how outputs are split between threads (matmul
/// tiles, rows of softmax and layer norm, copies), not the order of a sum, so the numbers are
/// the same for every `--jobs`. The one exception is a full-tensor `sum()` of 4 Mi elements or
/// more (rayon's reduction tree follows the threads); no paper sums a tensor that large.
fn worker_pools(workers: usize) -> anyhow::Result<Vec<Option<rayon::ThreadPool>>> {
    if workers == 1 {
        return Ok(vec![None]);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / workers).max(1);
    (0..workers)
        .map(|i| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |t| format!("repro-job{i}-{t}"))
                .build()
                .map(Some)
                .map_err(|e| anyhow::anyhow!("cannot start a thread pool for a training: {e}"))
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(jobs: usize) -> RunContext {
        RunContext::for_tests(Scale::Tiny, 1, jobs)
    }

    fn record(run: &Run<u32>, key: RunKey) -> TrainingRecord {
        TrainingRecord {
            label: run.label.clone(),
            seed: run.seed,
            key,
            steps: 1,
            resumed_from: None,
            parameters: 0,
            tokens_per_second: 0.0,
            train_seconds: 0.0,
            eval_seconds: 0.0,
            dev_loss_improvement: 0.0,
            hypotheses: BTreeMap::new(),
        }
    }

    #[test]
    fn one_configuration_under_two_names_trains_once() {
        let lab: Lab<u32, u32> = Lab::new(&ctx(2), "p", "sha");
        let run = |label: &str, config: u32, seed: u64| Run {
            label: label.to_string(),
            seed,
            config,
            with_test: label == "base",
        };
        let trained = Mutex::new(Vec::new());
        lab.execute(
            vec![
                run("base", 8, 1),
                run("h8", 8, 1),
                run("h1", 1, 1),
                run("base", 8, 2),
            ],
            |run, identity| {
                lock(&trained).push((run.label.clone(), run.seed, run.with_test));
                Ok((run.config * 10, record(run, identity.key())))
            },
        )
        .unwrap();
        let mut trained = lock(&trained).clone();
        trained.sort();
        assert_eq!(
            trained,
            vec![
                ("base".to_string(), 1, true),
                ("base".to_string(), 2, true),
                ("h1".to_string(), 1, false)
            ]
        );
        // Found by configuration: `h8` reads `base`'s run.
        assert_eq!(lab.result(&run("h8", 8, 1)).unwrap(), 80);
        assert!(lab.result(&run("h4", 4, 1)).is_err());
        assert_eq!(lab.records().len(), 3);
        // Executing again trains nothing new.
        lab.execute(vec![run("base", 8, 1)], |_, _| {
            anyhow::bail!("trained twice")
        })
        .unwrap();
    }

    #[test]
    fn concurrent_trainings_get_their_own_threads_and_the_same_numbers() {
        use burn::tensor::{Device, Distribution, Tensor};
        // A matmul large enough (300³ multiply-adds) for burn-flex to split across threads.
        let device = Device::flex();
        let inputs = (
            Tensor::<2>::random([300, 300], Distribution::Default, &device).into_data(),
            Tensor::<2>::random([300, 300], Distribution::Default, &device).into_data(),
        );
        let run_all = |jobs: usize| {
            let lab: Lab<u32, (usize, Vec<f32>)> = Lab::new(&ctx(jobs), "p", "sha");
            let runs = (0..4)
                .map(|i| Run {
                    label: format!("r{i}"),
                    seed: 1,
                    config: i,
                    with_test: false,
                })
                .collect();
            lab.execute(runs, |run, identity| {
                let device = Device::flex();
                let a = Tensor::<2>::from_data(inputs.0.clone(), &device);
                let b = Tensor::<2>::from_data(inputs.1.clone(), &device);
                let out = a.matmul(b).into_data().try_to_vec::<f32>().unwrap();
                Ok((
                    (rayon::current_num_threads(), out),
                    record(run, identity.key()),
                ))
            })
            .unwrap();
            (0..4)
                .map(|i| {
                    lab.result(&Run {
                        label: format!("r{i}"),
                        seed: 1,
                        config: i,
                        with_test: false,
                    })
                    .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if (cores / 2).max(1) == rayon::current_num_threads() {
            println!("skipped: with {cores} cores a job's pool is as large as the global one");
            return;
        }
        let alone = run_all(1);
        let together = run_all(2);
        for ((threads_alone, alone), (threads_together, together)) in alone.iter().zip(&together) {
            assert_eq!(*threads_alone, rayon::current_num_threads());
            assert_eq!(*threads_together, (cores / 2).max(1));
            assert_eq!(alone, together, "the product depends on --jobs");
        }
    }

    #[test]
    fn the_first_error_is_returned() {
        let lab: Lab<u32, u32> = Lab::new(&ctx(1), "p", "sha");
        let runs = (0..3)
            .map(|i| Run {
                label: format!("r{i}"),
                seed: 1,
                config: i,
                with_test: false,
            })
            .collect();
        let error = lab
            .execute(runs, |run, _| anyhow::bail!("{} broke", run.label))
            .unwrap_err();
        assert_eq!(error.to_string(), "r0 broke");
    }
}
