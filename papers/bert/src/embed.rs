//! Sentence embeddings from a loaded BERT, by the sentence-transformers recipe: the mean of the
//! last hidden states over the non-padding tokens, L2-normalised (all-MiniLM-L6-v2's
//! `modules.json`: Transformer → Pooling(mean) → Normalize).

use burn::tensor::{Device, Tensor, TensorData};
use repro_core::data::batch::pad_rows;

use crate::hf::HfBert;

/// `[CLS] pieces [SEP]` ids of `text`, truncated to `max_len` tokens, with the checkpoint's own
/// special ids.
pub fn encode(model: &HfBert, text: &str) -> anyhow::Result<Vec<u32>> {
    let id = |token: &str| {
        model
            .tokenizer
            .token_to_id(token)
            .ok_or_else(|| anyhow::anyhow!("the vocabulary has no {token}"))
    };
    let mut ids = model.tokenizer.encode(text)?;
    ids.truncate(model.max_seq_len.saturating_sub(2));
    let mut out = vec![id("[CLS]")?];
    out.extend(ids);
    out.push(id("[SEP]")?);
    Ok(out)
}

/// Last hidden states (rows, tokens, H) of a padded batch, with the padding mask (1 = real).
pub fn hidden_states(model: &HfBert, ids: &[Vec<u32>], device: &Device) -> (Tensor<3>, Tensor<2>) {
    let pad = model.config.pad_token_id as u32;
    let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let input = pad_rows(&rows, pad, device);
    let [batch, width] = input.dims();
    let segments = Tensor::zeros([batch, width], device);
    let mask = input.clone().not_equal_elem(i64::from(pad)).float();
    (model.model.forward(input, segments), mask)
}

/// L2-normalised mean-pooled embeddings of `sentences`, in order, `batch_size` at a time
/// (sorted by length inside, so padding stays small; the result does not depend on it).
pub fn sentence_embeddings(
    model: &HfBert,
    sentences: &[String],
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let encoded: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| encode(model, s))
        .collect::<anyhow::Result<_>>()?;
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| (encoded[i].len(), i));
    let mut out = vec![Vec::new(); encoded.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|&i| encoded[i].clone()).collect();
        let (hidden, mask) = hidden_states(model, &ids, device);
        let [batch, _, width] = hidden.dims();
        let mask3 = mask.clone().unsqueeze_dim::<3>(2);
        let summed = (hidden * mask3).sum_dim(1).reshape([batch, width]);
        let counts = mask.sum_dim(1).clamp_min(1e-9); // (B, 1)
        let mean = summed / counts;
        let norm = mean
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        let values = (mean / norm)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (row, &index) in chunk.iter().enumerate() {
            out[index] = values[row * width..(row + 1) * width].to_vec();
        }
    }
    Ok(out)
}

/// Embeddings as JSON lines: `{"text": …, "embedding": […]}` per sentence.
pub fn to_json_lines(sentences: &[String], embeddings: &[Vec<f32>]) -> String {
    sentences
        .iter()
        .zip(embeddings)
        .map(|(text, embedding)| {
            serde_json::json!({ "text": text, "embedding": embedding }).to_string() + "\n"
        })
        .collect()
}

/// Builds a tensor from rows (tests).
pub fn rows_tensor(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let width = rows.first().map_or(0, Vec::len);
    Tensor::from_data(TensorData::new(rows.concat(), [rows.len(), width]), device)
}
