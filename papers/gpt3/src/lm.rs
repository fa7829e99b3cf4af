//! The language-model adapter ([`repro_core::eval::LanguageModel`]) over this crate's decoder:
//! what the few-shot evaluation asks of a trained model, batched.
//!
//! As lm-evaluation-harness: context and continuation are tokenized apart and concatenated (the
//! continuation carries the target delimiter, so a byte-level BPE word keeps its leading space);
//! the window is the last `n_ctx` tokens; greedy decoding keeps the context's last
//! `n_ctx − max_new_tokens` tokens (lm-eval's rule) and reads each new token once, over the keys
//! and values cached for the rows (left-padded, [`crate::model::KvCache`]).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::Tokenizer;
use repro_core::eval::model::cut_at_stop;
use repro_core::eval::{GenerateRequest, LanguageModel, Loglikelihood};

use crate::corpus::END_OF_TEXT_ID;
use crate::model::{Gpt, KvCache};

/// Rows scored per forward pass.
const BATCH: usize = 32;

/// A trained decoder with its tokenizer.
pub struct GptLm<'a> {
    /// The model (evaluation mode).
    pub model: &'a Gpt,
    /// Its tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Where it runs.
    pub device: &'a Device,
}

impl GptLm<'_> {
    /// Log-probabilities over the vocabulary at `positions[r]` of each right-padded row `r`,
    /// flattened in that order (one V-sized slice per position). Only the asked positions go
    /// through the output layer: the rest of a prompt needs no logits.
    fn log_probs(
        &self,
        rows: &[Vec<u32>],
        positions: &[Vec<usize>],
    ) -> anyhow::Result<(Vec<f32>, usize)> {
        let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut flat = Vec::with_capacity(rows.len() * width);
        for row in rows {
            flat.extend(row.iter().map(|&t| i64::from(t)));
            flat.extend(std::iter::repeat_n(
                i64::from(END_OF_TEXT_ID),
                width - row.len(),
            ));
        }
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(flat, [rows.len(), width]), self.device);
        let hidden = self.model.hidden(ids);
        let [batch, length, d] = hidden.dims();
        let picked: Vec<i64> = positions
            .iter()
            .enumerate()
            .flat_map(|(r, ps)| ps.iter().map(move |&p| (r * width + p) as i64))
            .collect();
        let count = picked.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(picked, [count]), self.device);
        let selected = hidden.reshape([batch * length, d]).select(0, index);
        let logits = self.model.logits(selected);
        let vocab = logits.dims()[1];
        let values = log_softmax(logits, 1)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading log-probabilities: {e:?}"))?;
        Ok((values, vocab))
    }

    fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        self.tokenizer.encode(text)
    }
}

impl LanguageModel for GptLm<'_> {
    fn max_length(&self) -> usize {
        self.model.n_positions()
    }

    fn token_count(&self, text: &str) -> anyhow::Result<usize> {
        Ok(self.encode(text)?.len())
    }

    fn loglikelihood(&self, requests: &[(String, String)]) -> anyhow::Result<Vec<Loglikelihood>> {
        let n_ctx = self.max_length();
        // (tokens fed, index of the first continuation token among them, continuation tokens)
        let mut prepared = Vec::with_capacity(requests.len());
        for (context, continuation) in requests {
            let mut context = self.encode(context)?;
            if context.is_empty() {
                // Nothing to condition on: <|endoftext|>, as lm-eval does.
                context.push(END_OF_TEXT_ID);
            }
            let continuation = self.encode(continuation)?;
            anyhow::ensure!(!continuation.is_empty(), "an empty continuation to score");
            let mut all = context;
            all.extend(&continuation);
            // Predicting token i reads tokens < i: the last token is never fed.
            let keep = (all.len() - 1).min(n_ctx);
            let start = all.len() - 1 - keep;
            let fed = all[start..all.len() - 1].to_vec();
            anyhow::ensure!(
                continuation.len() <= fed.len(),
                "a continuation of {} tokens does not fit the {n_ctx}-token window",
                continuation.len()
            );
            // The output at fed position `first + j` predicts continuation token j.
            let first = fed.len() - continuation.len();
            prepared.push((fed, first, continuation));
        }
        let mut answers = vec![None; requests.len()];
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prepared[i].0.len()));
        for chunk in order.chunks(BATCH) {
            let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| prepared[i].0.clone()).collect();
            let positions: Vec<Vec<usize>> = chunk
                .iter()
                .map(|&i| (prepared[i].1..prepared[i].1 + prepared[i].2.len()).collect())
                .collect();
            let (values, vocab) = self.log_probs(&rows, &positions)?;
            let mut offset = 0;
            for &i in chunk {
                let (_, _, continuation) = &prepared[i];
                let (mut logprob, mut is_greedy) = (0.0f64, true);
                for &token in continuation {
                    let row = &values[offset * vocab..][..vocab];
                    offset += 1;
                    logprob += f64::from(row[token as usize]);
                    let best = argmax(row);
                    is_greedy &= best == token as usize;
                }
                answers[i] = Some(Loglikelihood {
                    logprob,
                    is_greedy,
                    tokens: continuation.len(),
                });
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request scored"))
            .collect())
    }

    fn loglikelihood_rolling(&self, texts: &[String]) -> anyhow::Result<Vec<Loglikelihood>> {
        // Disjoint windows of n_ctx predicted tokens, the first conditioned on <|endoftext|>.
        let n_ctx = self.max_length();
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            let mut tokens = vec![END_OF_TEXT_ID];
            tokens.extend(self.encode(text)?);
            let mut total = Loglikelihood {
                logprob: 0.0,
                is_greedy: true,
                tokens: 0,
            };
            let mut start = 0;
            while start + 1 < tokens.len() {
                let end = (start + n_ctx).min(tokens.len() - 1);
                // Position j of the window predicts token start + 1 + j.
                let piece = &tokens[start + 1..=end];
                let fed: Vec<u32> = tokens[start..end].to_vec();
                let every: Vec<usize> = (0..fed.len()).collect();
                let (values, vocab) = self.log_probs(std::slice::from_ref(&fed), &[every])?;
                for (j, &token) in piece.iter().enumerate() {
                    let row = &values[j * vocab..][..vocab];
                    total.logprob += f64::from(row[token as usize]);
                    total.is_greedy &= argmax(row) == token as usize;
                    total.tokens += 1;
                }
                start = end;
            }
            out.push(total);
        }
        Ok(out)
    }

    fn generate_until(&self, requests: &[GenerateRequest]) -> anyhow::Result<Vec<String>> {
        let n_ctx = self.max_length();
        let mut answers = vec![String::new(); requests.len()];
        let mut order: Vec<usize> = (0..requests.len()).collect();
        let prompts: Vec<Vec<u32>> = requests
            .iter()
            .map(|r| {
                let mut tokens = self.encode(&r.context)?;
                if tokens.is_empty() {
                    tokens.push(END_OF_TEXT_ID);
                }
                Ok(tokens)
            })
            .collect::<anyhow::Result<_>>()?;
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
        let vocab = self.model.wte.weight.dims()[0];
        for chunk in order.chunks(BATCH) {
            let steps = chunk
                .iter()
                .map(|&i| requests[i].max_new_tokens)
                .max()
                .unwrap_or(0);
            if steps == 0 {
                continue;
            }
            // lm-eval's rule: the context keeps its last n_ctx − max_new_tokens tokens.
            let keep = n_ctx.saturating_sub(steps).max(1);
            let rows: Vec<&[u32]> = chunk
                .iter()
                .map(|&i| &prompts[i][prompts[i].len().saturating_sub(keep)..])
                .collect();
            let width = rows.iter().map(|r| r.len()).max().unwrap_or(1);
            let mut flat = Vec::with_capacity(rows.len() * width);
            for row in &rows {
                flat.extend(std::iter::repeat_n(
                    i64::from(END_OF_TEXT_ID),
                    width - row.len(),
                ));
                flat.extend(row.iter().map(|&t| i64::from(t)));
            }
            let mut cache = KvCache::new(rows.iter().map(|r| width - r.len()).collect());
            let ids = Tensor::<2, Int>::from_data(
                TensorData::new(flat, [rows.len(), width]),
                self.device,
            );
            let mut hidden = self.model.hidden_cached(ids, &mut cache);
            let mut generated: Vec<Vec<u32>> = vec![Vec::new(); chunk.len()];
            let mut done = vec![false; chunk.len()];
            for step in 0..steps {
                let [batch, length, d] = hidden.dims();
                let last = hidden
                    .slice([0..batch, length - 1..length])
                    .reshape([batch, d]);
                let logits = self
                    .model
                    .logits(last)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
                let mut fed = Vec::with_capacity(batch);
                for (r, &i) in chunk.iter().enumerate() {
                    if done[r] {
                        fed.push(i64::from(END_OF_TEXT_ID));
                        continue;
                    }
                    let next = argmax(&logits[r * vocab..][..vocab]) as u32;
                    generated[r].push(next);
                    fed.push(i64::from(next));
                    let text = self.tokenizer.decode(&generated[r])?;
                    let request = &requests[i];
                    let stopped = request
                        .until
                        .iter()
                        .any(|stop| !stop.is_empty() && text.contains(stop.as_str()));
                    if stopped
                        || next == END_OF_TEXT_ID
                        || generated[r].len() >= request.max_new_tokens
                    {
                        done[r] = true;
                    }
                }
                if done.iter().all(|&d| d) || step + 1 == steps {
                    break;
                }
                let ids =
                    Tensor::<2, Int>::from_data(TensorData::new(fed, [batch, 1]), self.device);
                hidden = self.model.hidden_cached(ids, &mut cache);
            }
            for (r, &i) in chunk.iter().enumerate() {
                let text = self.tokenizer.decode(&generated[r])?;
                answers[i] = cut_at_stop(&text, &requests[i].until);
            }
        }
        Ok(answers)
    }
}

/// Index of the largest value (the first of ties).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GptConfig;
    use repro_core::determinism::init_on_cpu;

    #[test]
    fn loglikelihood_sums_the_continuation_tokens_of_a_full_forward() {
        let device = Device::flex();
        let tokenizer =
            crate::corpus::train_tokenizer(&["Q: What is 4 plus 5? A: 9".to_string()], 300)
                .unwrap();
        let config = GptConfig::sized(tokenizer.vocab_size(), 32, 1, 16, 2, 0.0);
        let model = init_on_cpu(5, &device, |d| config.init(d));
        let lm = GptLm {
            model: &model,
            tokenizer: &tokenizer,
            device: &device,
        };
        let (context, continuation) = ("Q: What is 4 plus 5? A:", " 9");
        let got = lm
            .loglikelihood(&[(context.to_string(), continuation.to_string())])
            .unwrap()[0];
        // By hand: one forward over context + continuation, read at the continuation's positions.
        let mut tokens = tokenizer.encode(context).unwrap();
        let answer = tokenizer.encode(continuation).unwrap();
        tokens.extend(&answer);
        let fed: Vec<i64> = tokens[..tokens.len() - 1]
            .iter()
            .map(|&t| i64::from(t))
            .collect();
        let n = fed.len();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(fed, [1, n]), &device);
        let all = log_softmax(model.forward(ids), 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let vocab = tokenizer.vocab_size();
        let first = n - answer.len();
        let expected: f64 = answer
            .iter()
            .enumerate()
            .map(|(j, &t)| f64::from(all[(first + j) * vocab + t as usize]))
            .sum();
        assert!(
            (got.logprob - expected).abs() < 1e-4,
            "{} vs {expected}",
            got.logprob
        );
        assert_eq!(got.tokens, answer.len());
        // Batched with a longer request, the answer is the same.
        let batched = lm
            .loglikelihood(&[
                (
                    "Q: What is 4 plus 5? A: 9\n\nQ: What is 4 plus 5? A:".to_string(),
                    " 9".to_string(),
                ),
                (context.to_string(), continuation.to_string()),
            ])
            .unwrap();
        assert!((batched[1].logprob - got.logprob).abs() < 1e-4);
        // Greedy decoding of one token is the argmax the log-likelihood calls greedy.
        let generated = lm
            .generate_until(&[GenerateRequest {
                context: context.to_string(),
                until: vec![],
                max_new_tokens: 1,
            }])
            .unwrap();
        let argmax_token = argmax(&all[first * vocab..][..vocab]) as u32;
        assert_eq!(generated[0], tokenizer.decode(&[argmax_token]).unwrap());
    }
}
