#!/usr/bin/env python3
"""Writes a workload JSON of random token ids, in the format the Rust bench writes (bench/README.md),
to test bench/twins.py without the Rust side.

    python bench/make_fake_workload.py attention|bert|gpt3 OUT.json [--train N] [--score N]
        [--warmup N] [--threads N] [--seed N]

Shapes are small but realistic (the defaults of the checks in bench/README.md). "parameters" is
computed here from OUR Rust model definitions (papers/*/src/model.rs), independently of the twin,
so that twins.py's parameter check compares two separate derivations.
"""

import argparse
import json
import random

# --------------------------------------------------------------------------------------------
# Parameter counts of our models, by hand from the Rust definitions
# --------------------------------------------------------------------------------------------


def attention_parameters(c):
    """papers/attention/src/model.rs `Transformer`: one shared (V, d) embedding (also the
    bias-free output projection), sinusoidal positions (a constant), N encoder layers
    (self-attention + FFN + 2 LayerNorms) and N decoder layers (self- and cross-attention + FFN +
    3 LayerNorms). Learned positions (Table 3 (E)) add max_len·d."""
    v, d, ff, n = c["vocab_size"], c["d_model"], c["d_ff"], c["n_layers"]
    attention = 4 * (d * d + d)  # query, key, value, output (weights + biases)
    feed_forward = (d * ff + ff) + (ff * d + d)
    norm = 2 * d  # gamma + beta
    encoder = n * (attention + feed_forward + 2 * norm)
    decoder = n * (2 * attention + feed_forward + 3 * norm)
    positions = c["max_len"] * d if c.get("positional", "sinusoidal") == "learned" else 0
    return v * d + positions + encoder + decoder


def bert_parameters(c):
    """papers/bert/src/model.rs `BertForPreTraining`: embeddings (word V·H, position P·H,
    segment 2·H, LayerNorm 2H), L layers (Q, K, V, O + LayerNorm; H→I→H + LayerNorm), pooler
    H·H + H, MLM head (transform H·H + H, LayerNorm 2H, bias V; decoder tied), NSP H·2 + 2."""
    v, h, i = c["vocab_size"], c["hidden_size"], c["intermediate_size"]
    p, t, n = c["max_position_embeddings"], c.get("type_vocab_size", 2), c["num_hidden_layers"]
    embeddings = (v + p + t) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    pooler = h * h + h
    mlm = (h * h + h) + 2 * h + v
    nsp = h * 2 + 2
    return embeddings + n * layer + pooler + mlm + nsp


def gpt3_parameters(c):
    """papers/gpt3/src/model.rs `Gpt`: wte V·d (tied output), wpe n_ctx·d, n_layer blocks
    (ln_1, c_attn d→3d, c_proj d→d, ln_2, c_fc d→d_ff, c_proj d_ff→d), ln_f."""
    v, d, ctx, n = c["vocab_size"], c["n_embd"], c["n_positions"], c["n_layer"]
    f = c.get("n_inner") or 4 * d
    block = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d
    return v * d + ctx * d + n * block + 2 * d


# --------------------------------------------------------------------------------------------
# Random batches
# --------------------------------------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2


def pad(rows, value=0):
    width = max(len(r) for r in rows)
    return [r + [value] * (width - len(r)) for r in rows]


def attention_batch(rng, c, pairs=32, shortest=16, longest=24):
    # Length-bucketed like ours: lengths within a batch are close.
    base = rng.randint(shortest, longest)
    sources, targets = [], []
    for _ in range(pairs):
        s = max(2, min(c["max_len"], base + rng.randint(-2, 0)))
        t = max(2, min(c["max_len"], base + rng.randint(-3, 1)))
        sources.append([rng.randint(3, c["vocab_size"] - 1) for _ in range(s - 1)] + [EOS])
        targets.append([rng.randint(3, c["vocab_size"] - 1) for _ in range(t - 1)] + [EOS])
    return {
        # ours (attention/src/training.rs): source + target lengths, padding excluded
        "tokens": sum(len(s) + len(t) for s, t in zip(sources, targets)),
        "source": pad(sources),
        "target_input": pad([[BOS] + t[:-1] for t in targets]),
        "target_output": pad(targets),
    }


def bert_batch(rng, c, size=32, length=64):
    cls, sep, mask = 2, 3, 4
    rows = []
    for _ in range(size):
        real = rng.randint(length * 3 // 4, length)
        split = rng.randint(2, real - 3)
        tokens = [cls] + [rng.randint(5, c["vocab_size"] - 1) for _ in range(real - 2)] + [sep]
        tokens[split] = sep
        segments = [0] * (split + 1) + [1] * (real - split - 1)
        labels = [-100] * real
        candidates = [i for i, tok in enumerate(tokens) if tok not in (cls, sep)]
        for i in rng.sample(candidates, max(1, round(0.15 * len(candidates)))):
            labels[i] = tokens[i]
            tokens[i] = mask
        rows.append((tokens, segments, labels))
    return {
        "tokens": sum(len(t) for t, _, _ in rows),  # ours: real tokens of the instances
        "input_ids": pad([t for t, _, _ in rows], PAD),
        "token_type_ids": pad([s for _, s, _ in rows], 0),
        "attention_mask": pad([[1] * len(t) for t, _, _ in rows], 0),
        "mlm_labels": pad([l for _, _, l in rows], -100),
        "nsp_labels": [rng.randint(0, 1) for _ in rows],
    }


def gpt3_batch(rng, c, size=8, length=256):
    windows = [[rng.randint(0, c["vocab_size"] - 1) for _ in range(length + 1)] for _ in range(size)]
    return {
        "tokens": size * length,  # ours: window length - 1 per row
        "input_ids": [w[:-1] for w in windows],
        "targets": [w[1:] for w in windows],
    }


DEFAULTS = {
    "attention": (
        {"vocab_size": 1000, "d_model": 64, "n_heads": 4, "d_ff": 256, "n_layers": 2,
         "dropout": 0.1, "max_len": 256, "label_smoothing": 0.1},
        # attention/src/training.rs: Adam β1 0.9, β2 0.98, ε 1e-9 (lr of Eq. 3 varies per step;
        # constant here)
        {"name": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.98, "eps": 1e-9, "weight_decay": 0.0},
        attention_parameters, attention_batch,
    ),
    "bert": (
        {"vocab_size": 2000, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 256, "max_position_embeddings": 128, "type_vocab_size": 2,
         "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "layer_norm_eps": 1e-12},
        # bert/src/pretraining.rs: AdamW β1 0.9, β2 0.999, ε 1e-6, weight decay as configured
        {"name": "adamw", "lr": 1e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.01},
        bert_parameters, bert_batch,
    ),
    "gpt3": (
        {"vocab_size": 2000, "n_positions": 256, "n_embd": 128, "n_layer": 4, "n_head": 4,
         "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5,
         "activation_function": "gelu"},
        # gpt3/src/training.rs: AdamW β1 0.9, β2 0.95, ε 1e-8, wd 0.1, per-parameter clip 1.0
        {"name": "adamw", "lr": 6e-4, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1},
        gpt3_parameters, gpt3_batch,
    ),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(DEFAULTS))
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=12, help="train batches (warm-up included)")
    parser.add_argument("--score", type=int, default=12, help="score batches (warm-up included)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config, optimizer, count, make_batch = DEFAULTS[args.model]
    rng = random.Random(args.seed)
    workload = {
        "model": args.model,
        "threads": args.threads,
        "parameters": count(config),
        "warmup": args.warmup,
        "config": config,
        "optimizer": optimizer,
        "train": [make_batch(rng, config) for _ in range(args.train)],
        "score": [make_batch(rng, config) for _ in range(args.score)],
    }
    with open(args.out, "w") as f:
        json.dump(workload, f)


if __name__ == "__main__":
    main()
