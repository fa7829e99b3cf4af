//! The paper's headline claims, each a computed predicate over the reproduced metrics.
//!
//! Tolerances (in BLEU points or perplexity) stand in for the seed spread when a scale runs a
//! single seed; with several seeds the spread decides (see `repro_core::claims`).

use repro_core::claims::{Claim, ClaimOutcome, Evidence, Verdict, about_equal, higher};
use repro_core::run::Metrics;

/// BLEU differences under half a point are not evidence at small scale with one seed.
const BLEU_TOLERANCE: f64 = 0.5;
/// Perplexity differences under 0.05 are not evidence with one seed.
const PPL_TOLERANCE: f64 = 0.05;

/// All claims, in the paper's order.
pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            id: "self_attention_faster_for_short_sequences",
            statement: "Self-attention layers are faster than recurrent layers when the sequence length n is smaller than the representation dimensionality d",
            source: "§4, Table 1",
            evaluate: self_attention_faster,
        },
        Claim {
            id: "multi_head_beats_single_head",
            statement: "Single-head attention is worse than the base model's multi-head attention (0.9 BLEU in the paper)",
            source: "§6.2, Table 3 (A)",
            evaluate: |m| {
                let heads = base_heads(m)?;
                Ok(higher(
                    &format!("h={heads}"),
                    m.get(&format!("attention_heads.h{heads}.dev_bleu"))?,
                    "h=1",
                    m.get("attention_heads.h1.dev_bleu")?,
                    BLEU_TOLERANCE,
                ))
            },
        },
        Claim {
            id: "bigger_models_are_better",
            statement: "Bigger models are better: fewer layers give a higher dev perplexity",
            source: "§6.2, Table 3 (C)",
            evaluate: |m| {
                Ok(higher(
                    "smaller (ppl)",
                    m.get("model_size.smaller.dev_ppl")?,
                    "base (ppl)",
                    m.get("model_size.base.dev_ppl")?,
                    PPL_TOLERANCE,
                ))
            },
        },
        Claim {
            id: "dropout_avoids_overfitting",
            statement: "Dropout is very helpful in avoiding over-fitting: without it BLEU drops",
            source: "§6.2, Table 3 (D)",
            evaluate: |m| {
                Ok(higher(
                    "P_drop=0.1",
                    m.get("regularization.base.dev_bleu")?,
                    "P_drop=0",
                    m.get("regularization.no_dropout.dev_bleu")?,
                    BLEU_TOLERANCE,
                ))
            },
        },
        Claim {
            id: "label_smoothing_hurts_perplexity",
            statement: "Label smoothing hurts perplexity, as the model learns to be more unsure",
            source: "§5.4, Table 3 (D)",
            evaluate: |m| {
                Ok(higher(
                    "ε_ls=0.1 (ppl)",
                    m.get("regularization.base.dev_ppl")?,
                    "ε_ls=0 (ppl)",
                    m.get("regularization.no_label_smoothing.dev_ppl")?,
                    PPL_TOLERANCE,
                ))
            },
        },
        Claim {
            id: "label_smoothing_improves_bleu",
            statement: "…but label smoothing improves accuracy and BLEU score",
            source: "§5.4, Table 3 (D)",
            evaluate: |m| {
                Ok(higher(
                    "ε_ls=0.1",
                    m.get("regularization.base.dev_bleu")?,
                    "ε_ls=0",
                    m.get("regularization.no_label_smoothing.dev_bleu")?,
                    BLEU_TOLERANCE,
                ))
            },
        },
        Claim {
            id: "learned_positions_match_sinusoids",
            statement: "Learned positional embeddings produce nearly identical results to sinusoids",
            source: "§3.5, Table 3 (E)",
            evaluate: |m| {
                Ok(about_equal(
                    "learned",
                    m.get("positional_encoding.learned.dev_bleu")?,
                    "sinusoidal",
                    m.get("positional_encoding.sinusoidal.dev_bleu")?,
                    BLEU_TOLERANCE,
                ))
            },
        },
    ]
}

/// The base model's head count, recorded by the heads experiment as its first variant.
fn base_heads(metrics: &Metrics) -> anyhow::Result<usize> {
    metrics
        .0
        .keys()
        .filter_map(|key| key.strip_prefix("attention_heads.h"))
        .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
        .filter(|&heads| heads != 1)
        .max()
        .ok_or_else(|| anyhow::anyhow!("no multi-head variant in attention_heads"))
}

/// Holds when self-attention is faster at every measured n < d; fails when it is slower at most
/// of them; inconclusive otherwise (or when no n < d was measured).
fn self_attention_faster(metrics: &Metrics) -> anyhow::Result<ClaimOutcome> {
    let d_model = metrics.get("self_attention_complexity.d_model")?.mean();
    let mut shorter = Vec::new();
    for (key, attention) in &metrics.0 {
        let Some(n) = key.strip_prefix("self_attention_complexity.attention_ms.n") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        let recurrent = metrics.get(&format!("self_attention_complexity.recurrent_ms.n{n}"))?;
        if (n as f64) < d_model {
            shorter.push((n, attention.clone(), recurrent.clone()));
        }
    }
    shorter.sort_by_key(|(n, _, _)| *n);
    anyhow::ensure!(
        !shorter.is_empty(),
        "no sequence length below d = {d_model} was timed"
    );
    let faster = shorter
        .iter()
        .filter(|(_, a, r)| a.mean() < r.mean())
        .count();
    let verdict = if faster == shorter.len() {
        Verdict::Holds
    } else if faster * 2 < shorter.len() {
        Verdict::Fails
    } else {
        Verdict::Inconclusive
    };
    let detail: Vec<String> = shorter
        .iter()
        .map(|(n, a, r)| format!("n={n}: {:.2} vs {:.2} ms", a.mean(), r.mean()))
        .collect();
    let mut evidence = Vec::new();
    for (n, attention, recurrent) in &shorter {
        evidence.push(Evidence {
            label: format!("attention n={n}"),
            metric: attention.clone(),
        });
        evidence.push(Evidence {
            label: format!("recurrent n={n}"),
            metric: recurrent.clone(),
        });
    }
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "self-attention faster at {faster} of {} lengths n < d = {d_model} ({}); wall-clock medians.",
            shorter.len(),
            detail.join("; ")
        ),
        evidence,
    })
}
