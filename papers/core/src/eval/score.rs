//! From a model's answers to a task's numbers: the argmax choice under each normalisation, exact
//! match of greedy answers, and the whole evaluation of a task at K shots ([`evaluate`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{GenerateRequest, LanguageModel, Loglikelihood};
use super::prompt::{Prompt, build};
use super::task::{Doc, OutputType, TaskSpec};

/// How choices' log-likelihoods are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalisation {
    /// Σ log p (lm-eval's `acc`).
    None,
    /// Σ log p divided by the choice's length in characters (lm-eval's `acc_norm`).
    Characters,
    /// Σ log p(choice | context) − Σ log p(choice | answer context) (GPT-3 §2.4's
    /// unconditional normalisation).
    Unconditional,
}

/// The index of the best choice (the first of ties). `unconditional` holds each choice's
/// log-likelihood after the answer context, needed only by [`Normalisation::Unconditional`].
pub fn best_choice(
    logprobs: &[f64],
    choices: &[String],
    unconditional: Option<&[f64]>,
    normalisation: Normalisation,
) -> anyhow::Result<usize> {
    anyhow::ensure!(!logprobs.is_empty(), "no choices to score");
    anyhow::ensure!(
        logprobs.len() == choices.len(),
        "a log-likelihood per choice"
    );
    let score = |i: usize| -> anyhow::Result<f64> {
        Ok(match normalisation {
            Normalisation::None => logprobs[i],
            Normalisation::Characters => logprobs[i] / choices[i].chars().count().max(1) as f64,
            Normalisation::Unconditional => {
                let unconditional = unconditional
                    .ok_or_else(|| anyhow::anyhow!("unconditional log-likelihoods missing"))?;
                logprobs[i] - unconditional[i]
            }
        })
    };
    let mut best = 0;
    let mut best_score = score(0)?;
    for i in 1..logprobs.len() {
        let s = score(i)?;
        if s > best_score {
            best = i;
            best_score = s;
        }
    }
    Ok(best)
}

/// Whether a greedy answer matches the target: both trimmed of surrounding whitespace.
pub fn exact_match(generated: &str, target: &str) -> bool {
    generated.trim() == target.trim()
}

/// One task evaluated at one K: its numbers and the protocol that produced them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The task's id.
    pub task: String,
    /// The task definition's version.
    pub version: u32,
    /// Instances scored.
    pub n: usize,
    /// K asked for.
    pub shots_requested: usize,
    /// The smallest K that fit the context window over the instances.
    pub shots_min: usize,
    /// The mean K used.
    pub shots_mean: f64,
    /// Seed of the demonstration draws.
    pub seed: u64,
    /// Each requested metric: accuracies in %, perplexity per target (`exp` of minus the mean
    /// log-likelihood of a target, lm-eval's aggregation), `answer_logprob` the mean
    /// log-likelihood of the gold answer after the prompt (nats per answer; for free-form tasks
    /// scored with one extra forward over prompt + delimiter + answer; for multiple choice the
    /// gold choice's).
    pub metrics: BTreeMap<String, f64>,
    /// Whether each instance was answered correctly (by the task's first accuracy metric), for
    /// paired comparisons and inspection.
    pub correct: Vec<bool>,
    /// The gold answer's log-likelihood on each instance (nats), where it was computed (the
    /// per-instance terms of `answer_logprob`); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<f64>,
}

/// The prompts of `docs` at `shots` demonstrations each, drawn without replacement from `pool`
/// by a generator seeded by (`seed`, instance index); a demonstration never equals its question.
pub fn prompts(
    spec: &TaskSpec,
    lm: &dyn LanguageModel,
    docs: &[Doc],
    pool: &[Doc],
    shots: usize,
    seed: u64,
) -> anyhow::Result<Vec<Prompt>> {
    anyhow::ensure!(
        shots <= pool.len(),
        "task `{}`: {shots} demonstrations asked but its training pool holds {}",
        spec.name,
        pool.len()
    );
    let tokens = |text: &str| lm.token_count(text);
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            let demos = draw(pool, doc, shots, seed, i);
            build(spec, doc, &demos, lm.max_length(), &tokens)
        })
        .collect()
}

fn draw(pool: &[Doc], question: &Doc, shots: usize, seed: u64, index: usize) -> Vec<Doc> {
    let mut rng =
        fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..pool.len()).collect();
    rng.shuffle(&mut order);
    order
        .into_iter()
        .map(|i| &pool[i])
        .filter(|demo| *demo != question)
        .take(shots)
        .cloned()
        .collect()
}

/// Evaluates `spec` on `docs` at `shots` demonstrations from `pool`.
pub fn evaluate(
    spec: &TaskSpec,
    lm: &dyn LanguageModel,
    docs: &[Doc],
    pool: &[Doc],
    shots: usize,
    seed: u64,
) -> anyhow::Result<Evaluation> {
    anyhow::ensure!(!docs.is_empty(), "task `{}`: no instances", spec.name);
    let prompts = prompts(spec, lm, docs, pool, shots, seed)?;
    let mut metrics = BTreeMap::new();
    let mut logprobs = Vec::new();
    let correct = match spec.output_type {
        OutputType::GenerateUntil => {
            let requests: Vec<GenerateRequest> = prompts
                .iter()
                .map(|prompt| GenerateRequest {
                    context: prompt.context.clone(),
                    until: spec.until.clone(),
                    max_new_tokens: spec.max_new_tokens,
                })
                .collect();
            let answers = lm.generate_until(&requests)?;
            let correct: Vec<bool> = answers
                .iter()
                .zip(&prompts)
                .map(|(answer, prompt)| exact_match(answer, &prompt.target))
                .collect();
            metrics.insert("exact_match".into(), percent(&correct));
            if spec.metrics.iter().any(|m| m == "answer_logprob") {
                // The answer as the model would have to write it: after the target delimiter.
                let requests: Vec<(String, String)> = prompts
                    .iter()
                    .map(|p| {
                        let answer = format!("{}{}", spec.target_delimiter, p.target);
                        (p.context.clone(), answer)
                    })
                    .collect();
                let scored = lm.loglikelihood(&requests)?;
                metrics.insert("answer_logprob".into(), mean_logprob(&scored));
                logprobs = scored.iter().map(|a| a.logprob).collect();
            }
            correct
        }
        OutputType::Loglikelihood => {
            let requests: Vec<(String, String)> = prompts
                .iter()
                .map(|prompt| (prompt.context.clone(), prompt.target.clone()))
                .collect();
            let answers = lm.loglikelihood(&requests)?;
            let correct: Vec<bool> = answers.iter().map(|a| a.is_greedy).collect();
            metrics.insert("acc".into(), percent(&correct));
            metrics.insert("perplexity".into(), perplexity(&answers));
            metrics.insert("answer_logprob".into(), mean_logprob(&answers));
            logprobs = answers.iter().map(|a| a.logprob).collect();
            correct
        }
        OutputType::MultipleChoice => {
            let (correct, gold) = multiple_choice(spec, lm, docs, &prompts, &mut metrics)?;
            logprobs = gold;
            correct
        }
    };
    // Kept only where asked for (the generative path computes them only then).
    if !spec.metrics.iter().any(|m| m == "answer_logprob") {
        logprobs.clear();
    }
    metrics.retain(|name, _| spec.metrics.contains(name));
    let used: Vec<usize> = prompts.iter().map(|p| p.shots).collect();
    Ok(Evaluation {
        task: spec.name.clone(),
        version: spec.version,
        n: docs.len(),
        shots_requested: shots,
        shots_min: used.iter().copied().min().unwrap_or(0),
        shots_mean: used.iter().sum::<usize>() as f64 / used.len() as f64,
        seed,
        metrics,
        correct,
        logprobs,
    })
}

fn multiple_choice(
    spec: &TaskSpec,
    lm: &dyn LanguageModel,
    docs: &[Doc],
    prompts: &[Prompt],
    metrics: &mut BTreeMap<String, f64>,
) -> anyhow::Result<(Vec<bool>, Vec<f64>)> {
    let mut requests = Vec::new();
    for prompt in prompts {
        for choice in &prompt.choices {
            requests.push((prompt.context.clone(), choice.clone()));
        }
    }
    let conditional = lm.loglikelihood(&requests)?;
    let unconditional = match &spec.unconditional_context {
        Some(context) => {
            let requests: Vec<(String, String)> = requests
                .iter()
                .map(|(_, choice)| (context.clone(), choice.clone()))
                .collect();
            Some(lm.loglikelihood(&requests)?)
        }
        None => None,
    };
    let mut hits: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
    let mut gold_logprobs = Vec::with_capacity(docs.len());
    let mut start = 0;
    for (doc, prompt) in docs.iter().zip(prompts) {
        let gold = doc
            .gold
            .ok_or_else(|| anyhow::anyhow!("task `{}`: an instance without gold", spec.name))?;
        let end = start + prompt.choices.len();
        let logprobs: Vec<f64> = conditional[start..end].iter().map(|a| a.logprob).collect();
        gold_logprobs.push(
            *logprobs
                .get(gold)
                .ok_or_else(|| anyhow::anyhow!("task `{}`: gold {gold} out of range", spec.name))?,
        );
        let uncond: Option<Vec<f64>> = unconditional
            .as_ref()
            .map(|u| u[start..end].iter().map(|a| a.logprob).collect());
        for (name, normalisation) in [
            ("acc", Normalisation::None),
            ("acc_norm", Normalisation::Characters),
            ("acc_uncond", Normalisation::Unconditional),
        ] {
            if normalisation == Normalisation::Unconditional && uncond.is_none() {
                continue;
            }
            let best = best_choice(&logprobs, &doc.choices, uncond.as_deref(), normalisation)?;
            hits.entry(name).or_default().push(best == gold);
        }
        start = end;
    }
    for (name, correct) in &hits {
        metrics.insert((*name).into(), percent(correct));
    }
    metrics.insert(
        "answer_logprob".into(),
        gold_logprobs.iter().sum::<f64>() / gold_logprobs.len().max(1) as f64,
    );
    let first = spec
        .metrics
        .iter()
        .find_map(|m| hits.get(m.as_str()))
        .or_else(|| hits.get("acc"));
    Ok((first.cloned().unwrap_or_default(), gold_logprobs))
}

fn percent(correct: &[bool]) -> f64 {
    100.0 * correct.iter().filter(|&&c| c).count() as f64 / correct.len().max(1) as f64
}

/// The mean log-likelihood of a target (nats per answer, not per token): the sensitive measure
/// of in-context learning where accuracies are all near zero (Kaplan et al. 2020 and Olsson et
/// al. 2022 measure it as loss falling with context).
fn mean_logprob(answers: &[Loglikelihood]) -> f64 {
    answers.iter().map(|a| a.logprob).sum::<f64>() / answers.len().max(1) as f64
}

fn perplexity(answers: &[Loglikelihood]) -> f64 {
    (-mean_logprob(answers)).exp()
}

#[cfg(test)]
mod tests;
