use super::*;
use burn::module::Module;
use burn::tensor::Int;
use burn::tensor::activation::softmax;

type Named = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn tiny() -> GptConfig {
    let mut config = GptConfig::sized(11, 6, 2, 8, 2, 0.0);
    // GPT-2's own activation, so that the reference below checks the tanh form too.
    config.activation_function = "gelu_new".into();
    config
}

/// The f32 tensors of `raws` by name.
fn by_name(raws: &[Raw]) -> Named {
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    raws.iter()
        .map(|(name, _, shape, bytes)| (name.clone(), (shape.clone(), f32s(bytes))))
        .collect()
}

/// GPT-2's forward from Hugging Face's tensor names alone (one sequence, head by head),
/// independent of [`slots`] and of [`crate::model`].
fn reference_logits(w: &Named, config: &GptConfig, ids: &[i64], device: &Device) -> Vec<f32> {
    let data = |name: &str| TensorData::new(w[name].1.clone(), w[name].0.clone());
    let t2 = |name: &str| Tensor::<2>::from_data(data(name), device);
    let t1 = |name: &str| Tensor::<1>::from_data(data(name), device).unsqueeze::<2>();
    let ln = |x: Tensor<2>, p: &str| {
        let centred = x.clone() - x.mean_dim(1);
        let var = centred.clone().powf_scalar(2.0).mean_dim(1);
        centred / (var + config.layer_norm_epsilon).sqrt() * t1(&format!("{p}.weight"))
            + t1(&format!("{p}.bias"))
    };
    let conv1d =
        |x: Tensor<2>, p: &str| x.matmul(t2(&format!("{p}.weight"))) + t1(&format!("{p}.bias"));
    let (n, d, heads) = (ids.len(), config.n_embd, config.n_head);
    let dh = d / heads;
    let index = Tensor::<1, Int>::from_data(TensorData::new(ids.to_vec(), [n]), device);
    let mut x = t2("wte.weight").select(0, index) + t2("wpe.weight").slice([0..n, 0..d]);
    let future: Vec<f32> = (0..n * n)
        .map(|k| if k % n > k / n { -1e9 } else { 0.0 })
        .collect();
    let future = Tensor::<2>::from_data(TensorData::new(future, [n, n]), device);
    for i in 0..config.n_layer {
        let qkv = conv1d(
            ln(x.clone(), &format!("h.{i}.ln_1")),
            &format!("h.{i}.attn.c_attn"),
        );
        // Q, K, V are the d-wide thirds of c_attn's output; head h is each one's h-th slice.
        let part = |k: usize, h: usize| {
            qkv.clone()
                .slice([0..n, k * d + h * dh..k * d + (h + 1) * dh])
        };
        let context = (0..heads)
            .map(|h| {
                let scores = part(0, h).matmul(part(1, h).transpose()) / (dh as f64).sqrt();
                softmax(scores + future.clone(), 1).matmul(part(2, h))
            })
            .collect();
        x = x.clone() + conv1d(Tensor::cat(context, 1), &format!("h.{i}.attn.c_proj"));
        let inner = conv1d(
            ln(x.clone(), &format!("h.{i}.ln_2")),
            &format!("h.{i}.mlp.c_fc"),
        );
        // gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
        let cubic = inner.clone() + inner.clone().powf_scalar(3.0) * 0.044715;
        let gelu = inner * ((cubic * (2.0 / std::f64::consts::PI).sqrt()).tanh() + 1.0) * 0.5;
        x = x + conv1d(gelu, &format!("h.{i}.mlp.c_proj"));
    }
    let logits = ln(x, "ln_f").matmul(t2("wte.weight").transpose());
    logits.into_data().try_to_vec::<f32>().unwrap()
}

fn error_of(dir: &Path) -> String {
    format!("{:#}", load(dir, &Device::flex()).expect_err("an error"))
}

#[test]
fn a_random_checkpoint_loads_tensor_for_tensor_and_computes_gpt2s_forward() {
    let (dir, config, device) = (tempfile::tempdir().unwrap(), tiny(), Device::flex());
    write_random_checkpoint(dir.path(), &config, 5).unwrap();
    let written = by_name(&random_tensors(&config, 5));
    let (mut model, loaded) = load(dir.path(), &device).unwrap();
    assert_eq!(loaded, config);
    let ids = [3i64, 1, 4, 1, 5, 9];
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, 6]), &device);
    let logits = model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let expected = reference_logits(&written, &config, &ids, &device);
    assert_eq!(logits.len(), expected.len());
    for (got, want) in logits.iter().zip(&expected) {
        assert!(
            got.is_finite() && (got - want).abs() < 1e-4,
            "{got} vs {want}"
        );
    }
    let names = checkpoint_names(&config);
    assert_eq!(
        names
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum::<usize>(),
        model.num_params()
    );
    for (name, slot) in slots(&mut model) {
        assert_eq!((slot.shape(), slot.values()), written[&name], "{name}");
    }
}

#[test]
fn gelu_pytorch_tanh_is_gpt2s_tanh_gelu_under_pytorchs_name() {
    let (dir, mut config, device) = (tempfile::tempdir().unwrap(), tiny(), Device::flex());
    config.activation_function = "gelu_pytorch_tanh".into();
    write_random_checkpoint(dir.path(), &config, 6).unwrap();
    let written = by_name(&random_tensors(&config, 6));
    let (model, loaded) = load(dir.path(), &device).unwrap();
    assert_eq!(loaded.activation_function, "gelu_pytorch_tanh");
    let ids = [2i64, 7, 1, 8];
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, 4]), &device);
    let logits = model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    // It loads (it used to be refused) and computes the reference's forward, the tanh form.
    let expected = reference_logits(&written, &config, &ids, &device);
    for (got, want) in logits.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}

#[test]
fn a_prefixed_bfloat16_file_with_a_tied_head_loads_and_an_untied_one_is_refused() {
    let (dir, config) = (tempfile::tempdir().unwrap(), tiny());
    let mut raws = random_tensors(&config, 2);
    let wte = raws[0].3.clone();
    // wte as bfloat16: the top two bytes of each little-endian f32.
    raws[0].1 = Dtype::BF16;
    raws[0].3 = wte.chunks_exact(4).flat_map(|b| [b[2], b[3]]).collect();
    for raw in &mut raws {
        raw.0 = format!("transformer.{}", raw.0);
    }
    let (shape, bytes) = (raws[0].2.clone(), raws[0].3.clone());
    raws.push(("lm_head.weight".into(), Dtype::BF16, shape, bytes));
    write_checkpoint(dir.path(), &config, &raws).unwrap();
    let (model, _) = load(dir.path(), &Device::flex()).unwrap();
    let truncated: Vec<f32> = wte
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([0, 0, b[2], b[3]]))
        .collect();
    assert_eq!(
        model
            .wte
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
        truncated
    );
    raws.last_mut().unwrap().3[0] ^= 1;
    write_checkpoint(dir.path(), &config, &raws).unwrap();
    assert!(error_of(dir.path()).contains("lm_head.weight differs from wte.weight"));
}

#[test]
fn a_wrong_shape_a_missing_or_an_unexpected_tensor_is_named() {
    let (dir, config) = (tempfile::tempdir().unwrap(), tiny());
    let mut raws = random_tensors(&config, 1);
    let at = raws
        .iter()
        .position(|r| r.0 == "h.0.attn.c_attn.weight")
        .unwrap();
    (raws[at].2, raws[at].3) = (vec![9, 24], vec![0; 9 * 24 * 4]);
    write_checkpoint(dir.path(), &config, &raws).unwrap();
    let message = error_of(dir.path());
    let wanted = "tensor `h.0.attn.c_attn.weight` has shape [9, 24], expected [8, 24]";
    assert!(message.contains(wanted), "{message}");
    raws[at].0 = "h.2.attn.c_attn.weight".into();
    write_checkpoint(dir.path(), &config, &raws).unwrap();
    let message = error_of(dir.path());
    assert!(
        message.contains("missing tensor `h.0.attn.c_attn.weight`"),
        "{message}"
    );
    assert!(
        message.contains("unexpected tensor `h.2.attn.c_attn.weight`"),
        "{message}"
    );
}

#[test]
fn unsupported_configurations_are_refused_by_name() {
    let (dir, mut config) = (tempfile::tempdir().unwrap(), tiny());
    config.activation_function = "relu".into();
    write_random_checkpoint(dir.path(), &config, 1).unwrap();
    assert!(error_of(dir.path()).contains("activation_function `relu` is not implemented"));
    let path = dir.path().join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["activation_function"] = "gelu_new".into();
    json["scale_attn_by_inverse_layer_idx"] = true.into();
    std::fs::write(&path, json.to_string()).unwrap();
    assert!(
        error_of(dir.path()).contains("scale_attn_by_inverse_layer_idx = true is not supported")
    );
    json["model_type"] = "gpt_neo".into();
    std::fs::write(&path, json.to_string()).unwrap();
    assert!(error_of(dir.path()).contains("model_type `gpt_neo` is not `gpt2`"));
}

#[test]
fn half_precision_values_convert_exactly() {
    assert_eq!(half_to_f32(0x3c00), 1.0);
    assert_eq!(half_to_f32(0xc000), -2.0);
    assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8);
    assert!(is_buffer("h.3.attn.bias") && is_buffer("h.0.attn.masked_bias"));
    assert!(!is_buffer("h.0.attn.c_attn.bias"));
}
