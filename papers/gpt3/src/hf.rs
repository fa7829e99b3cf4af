//! Hugging Face GPT-2 checkpoints (`config.json`, `model.safetensors`, optionally
//! `tokenizer.json`) loaded into [`crate::model::Gpt`], name for name.
//!
//! | tensor (`h.{i}.` per block)         | module    | shape as stored    | transposed |
//! |-------------------------------------|-----------|--------------------|------------|
//! | `wte.weight`, `wpe.weight`          | Embedding | (V, d), (n_ctx, d) | no         |
//! | `ln_1`, `ln_2`, `ln_f` weight, bias | LayerNorm | (d)                | no (γ, β)  |
//! | `attn.c_attn` weight, bias          | Conv1D    | (d, 3d), (3d)      | no         |
//! | `attn.c_proj` weight, bias          | Conv1D    | (d, d), (d)        | no         |
//! | `mlp.c_fc` weight, bias             | Conv1D    | (d, d_ff), (d_ff)  | no         |
//! | `mlp.c_proj` weight, bias           | Conv1D    | (d_ff, d), (d)     | no         |
//!
//! Nothing is transposed: GPT-2's `Conv1D` keeps its weight as (in, out) and computes
//! `x · W + b` (`torch.addmm(bias, x, weight)`), and burn's `Linear` (default `LinearLayout::Row`,
//! burn-nn 0.22 `modules/linear.rs`) stores `weight` as `[d_input, d_output]` and computes
//! `O = I·W + b` — the same matrix (unlike BERT's `nn.Linear`, (out, in), which
//! `papers/bert/src/hf.rs` transposes). `c_attn`'s 3d outputs are Q, K, V one after the other,
//! each split into heads, which is how [`crate::model`] reshapes them.
//!
//! Files saved from `GPT2LMHeadModel` carry a `transformer.` prefix (accepted) and may carry
//! `lm_head.weight`, which must equal `wte.weight` (the output layer here is tied); the attention
//! buffers `h.{i}.attn.bias` (causal mask) and `h.{i}.attn.masked_bias` are not parameters and
//! are skipped. Every tensor's shape is checked against the model `config.json` describes before
//! any is assigned; a missing, mis-shaped or unexpected tensor is an error that names it. F32,
//! F16 and BF16 are read (converted to f32). `config.json` options that change the computation
//! (`scale_attn_weights: false`, `scale_attn_by_inverse_layer_idx: true`,
//! `tie_word_embeddings: false`, an activation other than `gelu`/`gelu_new`/`gelu_pytorch_tanh`, a `model_type`
//! other than `gpt2`) are refused rather than silently ignored.
//!
//! ## GPT-2 124M on LAMBADA
//!
//! The GPT-2 paper (Radford et al., 2019, Table 3) reports 45.99 % LAMBADA accuracy for its
//! smallest model ("117M", 124 M parameters as counted by Hugging Face), on OpenAI's own
//! detokenised test set; its §3.3 also describes a stop-word filter on the predicted final
//! word, which the harness does not apply. lm-evaluation-harness scores the same checkpoint at
//! 32.56 % ± 0.65 (perplexity 40.06) on `lambada_openai` (EleutherAI/lm-evaluation-harness issue
//! #2159):
//!
//! ```text
//! lm_eval --model hf --model_args pretrained=openai-community/gpt2 --tasks lambada_openai
//! repro lambada --checkpoint ~/models/gpt2     # the same protocol here (crate::lambada)
//! ```
//!
//! `repro lambada` downloads the same file (SHA-256 pinned as lm-eval pins it) and scores with
//! the harness's protocol (the final word, with its leading space, must be the greedy
//! continuation): compare it with the 32.56 %, not with the paper's figure.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use repro_core::data::Tokenizer;
use safetensors::{Dtype, SafeTensors};

use crate::model::{Gpt, GptConfig};

/// A model parameter a checkpoint tensor goes into.
enum Slot<'a> {
    Matrix(&'a mut Param<Tensor<2>>),
    Vector(&'a mut Param<Tensor<1>>),
    Optional(&'a mut Option<Param<Tensor<1>>>),
}

impl Slot<'_> {
    /// The shape the model needs; a fresh model's values are drawn lazily, and this draws none.
    fn shape(&self) -> Vec<usize> {
        match self {
            Slot::Matrix(p) => p.lazy_shape().to_vec(),
            Slot::Vector(p) => p.lazy_shape().to_vec(),
            Slot::Optional(p) => p.as_ref().map_or(vec![], |p| p.lazy_shape().to_vec()),
        }
    }

    fn values(&self) -> Vec<f32> {
        let read = |data: TensorData| data.try_to_vec::<f32>().expect("f32 parameters");
        match self {
            Slot::Matrix(p) => read(p.val().into_data()),
            Slot::Vector(p) => read(p.val().into_data()),
            Slot::Optional(p) => p.as_ref().map_or(vec![], |p| read(p.val().into_data())),
        }
    }

    fn set(self, shape: Vec<usize>, values: Vec<f32>, device: &Device) {
        let data = TensorData::new(values, shape);
        match self {
            Slot::Matrix(p) => *p = Param::from_tensor(Tensor::from_data(data, device)),
            Slot::Vector(p) => *p = Param::from_tensor(Tensor::from_data(data, device)),
            Slot::Optional(p) => *p = Some(Param::from_tensor(Tensor::from_data(data, device))),
        }
    }
}

/// The model's parameters by checkpoint name (without prefix), in the model's order: the one
/// place where a Hugging Face name meets a field.
fn slots(model: &mut Gpt) -> Vec<(String, Slot<'_>)> {
    fn linear<'a>(out: &mut Vec<(String, Slot<'a>)>, name: String, layer: &'a mut Linear) {
        out.push((format!("{name}.weight"), Slot::Matrix(&mut layer.weight)));
        out.push((format!("{name}.bias"), Slot::Optional(&mut layer.bias)));
    }
    fn norm<'a>(out: &mut Vec<(String, Slot<'a>)>, name: String, layer: &'a mut LayerNorm) {
        out.push((format!("{name}.weight"), Slot::Vector(&mut layer.gamma)));
        out.push((format!("{name}.bias"), Slot::Optional(&mut layer.beta)));
    }
    let mut out = vec![
        (
            "wte.weight".to_string(),
            Slot::Matrix(&mut model.wte.weight),
        ),
        (
            "wpe.weight".to_string(),
            Slot::Matrix(&mut model.wpe.weight),
        ),
    ];
    for (i, block) in model.h.iter_mut().enumerate() {
        norm(&mut out, format!("h.{i}.ln_1"), &mut block.ln_1);
        linear(
            &mut out,
            format!("h.{i}.attn.c_attn"),
            &mut block.attn.c_attn,
        );
        linear(
            &mut out,
            format!("h.{i}.attn.c_proj"),
            &mut block.attn.c_proj,
        );
        norm(&mut out, format!("h.{i}.ln_2"), &mut block.ln_2);
        linear(&mut out, format!("h.{i}.mlp.c_fc"), &mut block.mlp.c_fc);
        linear(&mut out, format!("h.{i}.mlp.c_proj"), &mut block.mlp.c_proj);
    }
    norm(&mut out, "ln_f".into(), &mut model.ln_f);
    out
}

/// Every tensor a GPT-2 of `config` needs, as (checkpoint name, shape as stored), in order.
pub fn checkpoint_names(config: &GptConfig) -> Vec<(String, Vec<usize>)> {
    let mut model = config.init(&Device::flex());
    slots(&mut model)
        .into_iter()
        .map(|(name, slot)| (name, slot.shape()))
        .collect()
}

/// `h.{i}.attn.bias` and `h.{i}.attn.masked_bias`: the causal-mask buffers older files carry.
fn is_buffer(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    matches!(parts.as_slice(), ["h", _, "attn", "bias" | "masked_bias"])
}

/// A checkpoint tensor as f32, with its name in the file (prefix kept, for messages).
struct Read {
    stored: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn to_f32(
    file: &str,
    name: &str,
    view: &safetensors::tensor::TensorView,
) -> anyhow::Result<Vec<f32>> {
    let bytes = view.data();
    let pairs = || {
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    Ok(match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => pairs().map(half_to_f32).collect(),
        // bfloat16 is the top half of an f32.
        Dtype::BF16 => pairs()
            .map(|h| f32::from_bits(u32::from(h) << 16))
            .collect(),
        other => anyhow::bail!(
            "{file}: tensor `{name}` has dtype {other:?}, which this loader does not read (F32, F16, BF16)"
        ),
    })
}

/// The parameter tensors of a safetensors file by name without the `transformer.` prefix;
/// buffers dropped, and `lm_head.weight` checked to be `wte.weight`.
fn read_weights(path: &Path) -> anyhow::Result<BTreeMap<String, Read>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("reading {file}"))?;
    let parsed = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{file} is not a valid safetensors file: {e}"))?;
    let (mut tensors, mut lm_head) = (BTreeMap::new(), None);
    for (name, view) in parsed.tensors() {
        let key = name
            .strip_prefix("transformer.")
            .unwrap_or(&name)
            .to_string();
        // Integer and boolean tensors are buffers (masks, position ids), never parameters.
        let integer = matches!(
            view.dtype(),
            Dtype::BOOL | Dtype::U8 | Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64
        );
        if is_buffer(&key) || integer {
            continue;
        }
        let values = to_f32(&file, &name, &view)?;
        if key == "lm_head.weight" {
            lm_head = Some(values);
            continue;
        }
        let shape = view.shape().to_vec();
        let read = Read {
            stored: name.clone(),
            shape,
            values,
        };
        if let Some(earlier) = tensors.insert(key.clone(), read) {
            anyhow::bail!(
                "{file}: both `{}` and `{name}` hold `{key}`",
                earlier.stored
            );
        }
    }
    if let (Some(head), Some(wte)) = (lm_head, tensors.get("wte.weight")) {
        anyhow::ensure!(
            head == wte.values,
            "{file}: lm_head.weight differs from wte.weight; this decoder's output layer is tied \
             to the token embeddings and cannot hold a separate one"
        );
    }
    Ok(tensors)
}

/// Checks every tensor the model needs is present with its shape and nothing else is there;
/// the error lists every problem, each naming its tensor.
fn check(
    file: &Path,
    tensors: &BTreeMap<String, Read>,
    needed: &[(String, Vec<usize>)],
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (name, shape) in needed {
        match tensors.get(name) {
            None => problems.push(format!(
                "missing tensor `{name}` (expected shape {shape:?})"
            )),
            Some(read) if read.shape != *shape => problems.push(format!(
                "tensor `{}` has shape {:?}, expected {shape:?} from config.json",
                read.stored, read.shape
            )),
            Some(_) => {}
        }
    }
    for (key, read) in tensors {
        if !needed.iter().any(|(name, _)| name == key) {
            problems.push(format!(
                "unexpected tensor `{}` (shape {:?}): config.json's model has no place for it",
                read.stored, read.shape
            ));
        }
    }
    anyhow::ensure!(
        problems.is_empty(),
        "{}: {}",
        file.display(),
        problems.join("; ")
    );
    Ok(())
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

/// Reads `config.json` of a GPT-2 checkpoint directory, refusing what this decoder does not
/// compute.
pub fn read_config(dir: &Path) -> anyhow::Result<GptConfig> {
    let path = dir.join("config.json");
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {file}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{file} is not valid JSON"))?;
    if let Some(kind) = value["model_type"].as_str() {
        anyhow::ensure!(
            kind == "gpt2",
            "{file}: model_type `{kind}` is not `gpt2`; only GPT-2 checkpoints map onto this decoder"
        );
    }
    // Options that change the forward pass, with the value implemented here (HF's default).
    for (field, implemented) in [
        ("scale_attn_weights", true),
        ("scale_attn_by_inverse_layer_idx", false),
        ("tie_word_embeddings", true),
    ] {
        if let Some(set) = value[field].as_bool() {
            anyhow::ensure!(
                set == implemented,
                "{file}: {field} = {set} is not supported (this decoder implements {field} = {implemented})"
            );
        }
    }
    let config: GptConfig = serde_json::from_value(value)
        .with_context(|| format!("{file} is not a GPT-2 config.json"))?;
    config.validate().with_context(|| file.clone())?;
    Ok(config)
}

/// Loads the GPT-2 checkpoint in `dir` (`config.json`, `model.safetensors`) on `device`.
/// Dropout is the identity off autodiff devices, so the model is ready for inference.
pub fn load(dir: &Path, device: &Device) -> anyhow::Result<(Gpt, GptConfig)> {
    let config = read_config(dir)?;
    let path = dir.join("model.safetensors");
    let mut tensors = read_weights(&path)?;
    // Built, then every parameter replaced: burn draws initial values lazily, so none are.
    let mut model = config.init(device);
    let slots = slots(&mut model);
    let needed: Vec<(String, Vec<usize>)> = slots
        .iter()
        .map(|(name, slot)| (name.clone(), slot.shape()))
        .collect();
    check(&path, &tensors, &needed)?;
    for (name, slot) in slots {
        let read = tensors.remove(&name).expect("checked above");
        slot.set(read.shape, read.values, device);
    }
    Ok((model, config))
}

/// The checkpoint's `tokenizer.json` if it has one, checked to fit `config`'s embedding matrix
/// (an id past `vocab_size` would index outside it).
pub fn load_tokenizer(dir: &Path, config: &GptConfig) -> anyhow::Result<Option<Tokenizer>> {
    let path = dir.join("tokenizer.json");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let tokenizer = Tokenizer::from_json(&text)?;
    anyhow::ensure!(
        tokenizer.vocab_size() <= config.vocab_size,
        "{}: the vocabulary has {} tokens but config.json's vocab_size (the embedding matrix) is {}",
        path.display(),
        tokenizer.vocab_size(),
        config.vocab_size
    );
    Ok(Some(tokenizer))
}

/// Writes `config` and the weights of a model of it initialised from `seed` to `dir`, in
/// Hugging Face's layout (F32, no prefix, with the causal-mask buffers GPT-2 files carry), for
/// tests of the loader.
pub fn write_random_checkpoint(dir: &Path, config: &GptConfig, seed: u64) -> anyhow::Result<()> {
    write_checkpoint(dir, config, &random_tensors(config, seed))
}

/// A tensor to write: name, dtype, shape, little-endian bytes.
type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A seeded model's parameters (biases and LayerNorm shifts included), then the buffers.
fn random_tensors(config: &GptConfig, seed: u64) -> Vec<Raw> {
    let device = Device::flex();
    let mut model = repro_core::determinism::init_on_cpu(seed, &device, |d| config.init(d));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut raws: Vec<Raw> = slots(&mut model)
        .into_iter()
        .map(|(name, slot)| {
            // Biases and LayerNorms start at 0 and 1: perturbed, so a swap would show.
            let values: Vec<f32> = slot
                .values()
                .iter()
                .map(|v| v + (rng.f32() - 0.5) * 0.1)
                .collect();
            (name, Dtype::F32, slot.shape(), f32_bytes(&values))
        })
        .collect();
    let n = config.n_positions;
    let causal: Vec<f32> = (0..n * n)
        .map(|k| f32::from(u8::from(k % n <= k / n)))
        .collect();
    for i in 0..config.n_layer {
        raws.push((
            format!("h.{i}.attn.bias"),
            Dtype::F32,
            vec![1, 1, n, n],
            f32_bytes(&causal),
        ));
        raws.push((
            format!("h.{i}.attn.masked_bias"),
            Dtype::F32,
            vec![],
            f32_bytes(&[-1e4]),
        ));
    }
    raws
}

/// Writes `config.json` (as Hugging Face's, with `model_type`) and `model.safetensors`.
fn write_checkpoint(dir: &Path, config: &GptConfig, tensors: &[Raw]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut json = serde_json::to_value(config)?;
    json["model_type"] = "gpt2".into();
    json["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)?;
            Ok((name.clone(), view))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
