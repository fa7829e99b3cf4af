//! Hugging Face BERT checkpoints (`config.json`, `tokenizer.json` or `vocab.txt`,
//! `model.safetensors`) loaded into [`crate::model::Bert`], name for name.
//!
//! The mapping is one line per tensor ([`encoder_names`]); PyTorch's `nn.Linear` stores its weight
//! as (out, in) and burn's `Linear` as (in, out), so every linear weight is transposed (listed as
//! such); embeddings, LayerNorm scales (`weight`, or `gamma` in TF-converted files) and biases are
//! copied. A `bert.` prefix (BertForPreTraining and friends) is accepted, the `position_ids`
//! buffer ignored. Every tensor's shape is checked against the configuration before anything is
//! built; a missing or mis-shaped tensor is an error that names it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use repro_core::data::Tokenizer;
use safetensors::{Dtype, SafeTensors};

use crate::model::{Bert, BertConfig};

/// How a checkpoint tensor becomes a model parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Copied as stored.
    Copy,
    /// A PyTorch `nn.Linear` weight (out, in), transposed to burn's (in, out).
    TransposeLinear,
}

/// One tensor of the mapping: the checkpoint name (without prefix), its expected shape (as
/// stored), and how it is laid out in the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Name in the checkpoint (`encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Copy or transpose.
    pub layout: Layout,
}

/// Every encoder tensor a BERT of `config` needs, in the checkpoint's names.
pub fn encoder_names(config: &BertConfig) -> Vec<Mapped> {
    let h = config.hidden_size;
    let i = config.intermediate_size;
    let mut names = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, layout| {
        names.push(Mapped {
            name,
            shape,
            layout,
        })
    };
    push(
        "embeddings.word_embeddings.weight".into(),
        vec![config.vocab_size, h],
        Layout::Copy,
    );
    push(
        "embeddings.position_embeddings.weight".into(),
        vec![config.max_position_embeddings, h],
        Layout::Copy,
    );
    push(
        "embeddings.token_type_embeddings.weight".into(),
        vec![config.type_vocab_size, h],
        Layout::Copy,
    );
    push("embeddings.LayerNorm.weight".into(), vec![h], Layout::Copy);
    push("embeddings.LayerNorm.bias".into(), vec![h], Layout::Copy);
    for layer in 0..config.num_hidden_layers {
        let p = format!("encoder.layer.{layer}");
        for (module, d_in, d_out) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", h, i),
            ("output.dense", i, h),
        ] {
            push(
                format!("{p}.{module}.weight"),
                vec![d_out, d_in],
                Layout::TransposeLinear,
            );
            push(format!("{p}.{module}.bias"), vec![d_out], Layout::Copy);
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            push(format!("{p}.{norm}.weight"), vec![h], Layout::Copy);
            push(format!("{p}.{norm}.bias"), vec![h], Layout::Copy);
        }
    }
    push(
        "pooler.dense.weight".into(),
        vec![h, h],
        Layout::TransposeLinear,
    );
    push("pooler.dense.bias".into(), vec![h], Layout::Copy);
    names
}

/// The tensors of a safetensors file, as f32, by name without the `bert.` prefix.
struct Weights {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    file: String,
}

impl Weights {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("reading {file}"))?;
        let parsed = SafeTensors::deserialize(&bytes)
            .map_err(|e| anyhow::anyhow!("{file} is not a valid safetensors file: {e}"))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in parsed.tensors() {
            let key = name.strip_prefix("bert.").unwrap_or(&name).to_string();
            // TF-converted checkpoints call LayerNorm's scale and shift gamma and beta.
            let key = key
                .replace("LayerNorm.gamma", "LayerNorm.weight")
                .replace("LayerNorm.beta", "LayerNorm.bias");
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => view
                    .data()
                    .chunks_exact(2)
                    .map(|b| half_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                Dtype::BF16 => view
                    .data()
                    .chunks_exact(2)
                    .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                    .collect(),
                // Buffers such as `position_ids` (I64) are not parameters.
                Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => {
                    continue;
                }
                other => anyhow::bail!(
                    "{file}: tensor `{name}` has dtype {other:?}, which this loader does not read (F32, F16, BF16)"
                ),
            };
            tensors.insert(key, (view.shape().to_vec(), values));
        }
        Ok(Self { tensors, file })
    }

    /// Checks every mapped tensor is present with its shape; the error lists all problems.
    fn check(&self, mapping: &[Mapped]) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for mapped in mapping {
            match self.tensors.get(&mapped.name) {
                None => problems.push(format!(
                    "missing tensor `{}` (expected shape {:?})",
                    mapped.name, mapped.shape
                )),
                Some((shape, _)) if *shape != mapped.shape => problems.push(format!(
                    "tensor `{}` has shape {shape:?}, expected {:?} from config.json",
                    mapped.name, mapped.shape
                )),
                Some(_) => {}
            }
        }
        anyhow::ensure!(
            problems.is_empty(),
            "{}: {}",
            self.file,
            problems.join("; ")
        );
        Ok(())
    }

    fn tensor<const D: usize>(&self, name: &str, layout: Layout, device: &Device) -> Tensor<D> {
        let (shape, values) = &self.tensors[name];
        let data = TensorData::new(values.clone(), shape.clone());
        let tensor = Tensor::<D>::from_data(data, device);
        match layout {
            Layout::Copy => tensor,
            Layout::TransposeLinear => tensor.transpose(),
        }
    }

    fn param<const D: usize>(
        &self,
        name: &str,
        layout: Layout,
        device: &Device,
    ) -> Param<Tensor<D>> {
        Param::from_tensor(self.tensor(name, layout, device))
    }
}

/// IEEE half to f32.
fn half_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let value = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((m << shift) & 0x3ff) << 13)
        }
        (31, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(value)
}

/// A loaded checkpoint.
pub struct HfBert {
    /// The encoder with the checkpoint's weights.
    pub model: Bert,
    /// Its configuration.
    pub config: BertConfig,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// `max_seq_length` of `sentence_bert_config.json` when present (sentence-transformers), else
    /// `max_position_embeddings`.
    pub max_seq_len: usize,
    /// The checkpoint had no pooler, so it was initialised from seed 0 (callers say so).
    pub fresh_pooler: bool,
}

/// Loads the BERT checkpoint in `dir` on `device`.
pub fn load(dir: &Path, device: &Device) -> anyhow::Result<HfBert> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: BertConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a BERT config.json", config_path.display()))?;
    config
        .validate()
        .with_context(|| format!("{}", config_path.display()))?;
    let tokenizer = if dir.join("tokenizer.json").exists() {
        Tokenizer::from_json(&std::fs::read_to_string(dir.join("tokenizer.json"))?)?
    } else if dir.join("vocab.txt").exists() {
        Tokenizer::from_bert_vocab(&dir.join("vocab.txt"), lowercases(dir)?)?
    } else {
        anyhow::bail!("{}: neither tokenizer.json nor vocab.txt", dir.display());
    };
    anyhow::ensure!(
        tokenizer.vocab_size() == config.vocab_size,
        "{}: the vocabulary has {} tokens but config.json's vocab_size (the embedding matrix) is {}",
        dir.display(),
        tokenizer.vocab_size(),
        config.vocab_size
    );
    let weights = Weights::read(&dir.join("model.safetensors"))?;
    // Checkpoints saved from BertForMaskedLM and some sentence-transformers exports have no
    // pooler; as Hugging Face does, it is then freshly initialised (here from seed 0, so loads
    // are reproducible): fine-tuning trains it, `embed` never reads it.
    let fresh_pooler = !weights.tensors.contains_key("pooler.dense.weight")
        && !weights.tensors.contains_key("pooler.dense.bias");
    let mapping: Vec<Mapped> = encoder_names(&config)
        .into_iter()
        .filter(|mapped| !(fresh_pooler && mapped.name.starts_with("pooler.")))
        .collect();
    weights.check(&mapping)?;
    let built = if fresh_pooler {
        repro_core::determinism::init_on_cpu(0, device, |device| config.init(device))
    } else {
        config.init(device)
    };
    let model = assign(built, &weights, &config, !fresh_pooler, device);
    let max_seq_len = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| value["max_seq_length"].as_u64())
        .map_or(config.max_position_embeddings, |n| n as usize)
        .min(config.max_position_embeddings);
    Ok(HfBert {
        model,
        config,
        tokenizer,
        max_seq_len,
        fresh_pooler,
    })
}

/// `do_lower_case` of `tokenizer_config.json` (true without the file or the field, as Hugging
/// Face's `BertTokenizer`): bert-base-cased's vocabulary is useless when lower-cased.
fn lowercases(dir: &Path) -> anyhow::Result<bool> {
    let path = dir.join("tokenizer_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(true);
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    match &value["do_lower_case"] {
        serde_json::Value::Null => Ok(true),
        serde_json::Value::Bool(lower) => Ok(*lower),
        other => anyhow::bail!(
            "{}: do_lower_case is {other}, expected true or false",
            path.display()
        ),
    }
}

/// Puts the checkpoint's tensors into a freshly built model (shapes already checked).
fn assign(
    mut model: Bert,
    w: &Weights,
    config: &BertConfig,
    with_pooler: bool,
    device: &Device,
) -> Bert {
    use Layout::{Copy, TransposeLinear as T};
    let e = &mut model.embeddings;
    e.word_embeddings.weight = w.param("embeddings.word_embeddings.weight", Copy, device);
    e.position_embeddings.weight = w.param("embeddings.position_embeddings.weight", Copy, device);
    e.token_type_embeddings.weight =
        w.param("embeddings.token_type_embeddings.weight", Copy, device);
    e.layer_norm.gamma = w.param("embeddings.LayerNorm.weight", Copy, device);
    e.layer_norm.beta = Some(w.param("embeddings.LayerNorm.bias", Copy, device));
    let linear = |layer: &mut burn::nn::Linear, name: &str| {
        layer.weight = w.param(&format!("{name}.weight"), T, device);
        layer.bias = Some(w.param(&format!("{name}.bias"), Copy, device));
    };
    let norm = |layer: &mut burn::nn::LayerNorm, name: &str| {
        layer.gamma = w.param(&format!("{name}.weight"), Copy, device);
        layer.beta = Some(w.param(&format!("{name}.bias"), Copy, device));
    };
    for (index, layer) in model
        .layers
        .iter_mut()
        .enumerate()
        .take(config.num_hidden_layers)
    {
        let p = format!("encoder.layer.{index}");
        linear(
            &mut layer.attention.query,
            &format!("{p}.attention.self.query"),
        );
        linear(&mut layer.attention.key, &format!("{p}.attention.self.key"));
        linear(
            &mut layer.attention.value,
            &format!("{p}.attention.self.value"),
        );
        linear(
            &mut layer.attention.output,
            &format!("{p}.attention.output.dense"),
        );
        norm(
            &mut layer.attention.output_norm,
            &format!("{p}.attention.output.LayerNorm"),
        );
        linear(
            &mut layer.feed_forward.intermediate,
            &format!("{p}.intermediate.dense"),
        );
        linear(&mut layer.feed_forward.output, &format!("{p}.output.dense"));
        norm(
            &mut layer.feed_forward.output_norm,
            &format!("{p}.output.LayerNorm"),
        );
    }
    if with_pooler {
        linear(&mut model.pooler, "pooler.dense");
    }
    model
}

/// Writes a checkpoint of `config` in Hugging Face's layout with weights drawn from `seed`
/// (tests of the loader; `prefix` `bert.` as BertForPreTraining files have it, `skip` leaves a
/// tensor out, `reshape` stores one with a wrong shape).
pub fn write_test_checkpoint(
    dir: &Path,
    config: &BertConfig,
    vocab: &[String],
    prefix: &str,
    skip: Option<&str>,
    reshape: Option<&str>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config)?,
    )?;
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n")?;
    let mut rng = fastrand::Rng::with_seed(9);
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for mapped in encoder_names(config) {
        if skip == Some(mapped.name.as_str()) {
            continue;
        }
        let mut shape = mapped.shape.clone();
        if reshape == Some(mapped.name.as_str()) {
            shape[0] += 1;
        }
        let count: usize = shape.iter().product();
        let bytes: Vec<u8> = (0..count)
            .flat_map(|_| ((rng.f32() - 0.5) * 0.1).to_le_bytes())
            .collect();
        buffers.push((format!("{prefix}{}", mapped.name), shape, bytes));
    }
    // The position_ids buffer that many checkpoints carry (I64, not a parameter).
    let positions: Vec<u8> = (0..config.max_position_embeddings as i64)
        .flat_map(|p| p.to_le_bytes())
        .collect();
    buffers.push((
        "embeddings.position_ids".to_string(),
        vec![1, config.max_position_embeddings],
        positions,
    ));
    let views: Vec<(String, safetensors::tensor::TensorView)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let dtype = if name.ends_with("position_ids") {
                Dtype::I64
            } else {
                Dtype::F32
            };
            Ok((
                name.clone(),
                safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_convert_exactly() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8);
    }

    #[test]
    fn the_mapping_lists_every_parameter_of_the_model_once() {
        let config = BertConfig::sized(30, 2, 8, 2, 16);
        let mapping = encoder_names(&config);
        let stored: usize = mapping
            .iter()
            .map(|m| m.shape.iter().product::<usize>())
            .sum();
        use burn::module::Module;
        assert_eq!(stored, config.init(&Device::flex()).num_params());
        assert_eq!(
            mapping
                .iter()
                .filter(|m| m.layout == Layout::TransposeLinear)
                .count(),
            2 * 6 + 1
        );
    }
}
