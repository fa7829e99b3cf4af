#!/usr/bin/env python3
"""PyTorch twins of our burn models, for the side-by-side CPU benchmark.

    python bench/twins.py WORKLOAD.json --phase train|score

Reads a workload written by the Rust bench (format: bench/README.md), builds the twin of
`workload["model"]`, checks that its parameter count equals ours exactly, runs the batches of the
phase (the first `warmup` untimed) and prints one JSON line to stdout. Everything else goes to
stderr.

Each twin is the plain eager PyTorch a competent user would write for the architecture, with the
same shapes, the same sub-layers in the same places, the same dropout rates and the same loss and
optimiser as ours (papers/*/src/model.rs and their training files). Weights follow the same
initialisation scheme, not the same values. Where PyTorch has a fused built-in a user would reach
for (F.scaled_dot_product_attention, nn.LayerNorm, F.cross_entropy with label_smoothing /
ignore_index) the twin uses it.

The models live beside this file: twin_attention.py, twin_bert.py, twin_gpt3.py (each: the
model, its batch converter and its loss); twin_common.py holds what they share.
"""

import argparse
import json
import math
import resource
import sys
import time
import warnings

import torch

import twin_attention
import twin_bert
import twin_gpt3


MODELS = {
    # model name: (twin class, batch converter, loss)
    "attention": (twin_attention.Transformer, twin_attention.convert_batch, twin_attention.attention_loss),
    "bert": (twin_bert.BertForPreTraining, twin_bert.convert_batch, twin_bert.bert_loss),
    "gpt3": (twin_gpt3.Gpt, twin_gpt3.convert_batch, twin_gpt3.gpt_loss),
}


def parameter_breakdown(model):
    lines = []
    for name, child in model.named_children():
        count = sum(p.numel() for p in child.parameters())
        lines.append(f"  {name}: {count:,}")
    direct = sum(p.numel() for p in model.parameters(recurse=False))
    if direct:
        lines.append(f"  (own parameters): {direct:,}")
    lines.append("  per parameter:")
    for name, p in model.named_parameters():
        lines.append(f"    {name} {tuple(p.shape)} = {p.numel():,}")
    return "\n".join(lines)


def make_optimizer(model, spec):
    name = spec.get("name", "adam").lower()
    kwargs = dict(
        lr=spec["lr"],
        betas=(spec.get("beta1", 0.9), spec.get("beta2", 0.999)),
        eps=spec.get("eps", 1e-8),
        weight_decay=spec.get("weight_decay", 0.0),
    )
    # Ours (burn's Adam/AdamW) applies to every parameter alike, biases and LayerNorms included:
    # one parameter group, as here.
    if name == "adam":
        return torch.optim.Adam(model.parameters(), **kwargs)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), **kwargs)
    raise ValueError(f"unknown optimizer {name!r}")


def clip_each_parameter(parameters, max_norm):
    """burn's `GradientClippingConfig::Norm(max_norm)`, as our GPT-3 training uses it: EACH
    parameter's gradient is scaled to norm ≤ max_norm on its own (coef = max_norm / (‖g‖ + tiny),
    clamped at 1), not the global norm over all parameters that GPT-3 Appendix B describes and
    that `clip_grad_norm_(model.parameters(), 1.0)` would compute. One call per parameter."""
    for p in parameters:
        if p.grad is not None:
            torch.nn.utils.clip_grad_norm_([p], max_norm)


def gradient_clipping(workload):
    """(mode, max_norm): from the workload's optimizer spec when given ("clip_norm",
    "clip_mode": "per_parameter" | "global" | "none"), else ours per model (GPT-3 clips each
    parameter at 1.0, the others do not clip)."""
    spec = workload.get("optimizer", {})
    if "clip_norm" in spec or "clip_mode" in spec:
        norm = spec.get("clip_norm")
        mode = spec.get("clip_mode", "per_parameter" if norm else "none")
        return (mode, norm) if norm and mode != "none" else ("none", None)
    if workload["model"] == "gpt3":
        return "per_parameter", 1.0
    return "none", None


def run(workload, phase, verbose=False):
    threads = int(workload["threads"])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as error:  # only settable before any inter-op work
        warnings.warn(f"set_num_interop_threads: {error}")
    torch.manual_seed(0)

    name = workload["model"]
    if name not in MODELS:
        raise SystemExit(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    build, convert, loss_of = MODELS[name]
    config = workload["config"]
    model = build(config)

    parameters = sum(p.numel() for p in model.parameters())
    expected = int(workload["parameters"])
    if parameters != expected:
        raise SystemExit(
            f"{name} twin has {parameters:,} parameters, ours {expected:,} "
            f"(difference {parameters - expected:+,}); twin breakdown:\n{parameter_breakdown(model)}"
        )

    raw_batches = workload[phase]
    warmup = int(workload.get("warmup", 0))
    if len(raw_batches) <= warmup:
        raise SystemExit(f"{phase}: {len(raw_batches)} batches, not more than warmup {warmup}")
    # Python lists -> tensors before timing (ours times building its batches from token ids;
    # converting nested Python lists is a Python-side cost a real data loader would not pay).
    batches = [convert(raw) for raw in raw_batches]

    training = phase == "train"
    min_seconds = float(workload.get("min_seconds", 0.0))
    tokens = 0
    seconds = 0.0
    steps = 0
    loss_value = float("nan")

    def schedule():
        """The warm-up batches once, then the timed ones again until `min_seconds` have passed
        (as the Rust side does): (index, timed)."""
        for index in range(warmup):
            yield index, False
        while True:
            for index in range(warmup, len(batches)):
                yield index, True
            if seconds >= min_seconds:
                return

    if training:
        model.train()
        optimizer = make_optimizer(model, workload["optimizer"])
        clip_mode, clip_norm = gradient_clipping(workload)
        params = [p for p in model.parameters() if p.requires_grad]
        for index, timed in schedule():
            batch = batches[index]
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model, batch, config, True)
            loss.backward()
            if clip_mode == "per_parameter":
                clip_each_parameter(params, clip_norm)
            elif clip_mode == "global":
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            optimizer.step()
            loss_value = loss.item()  # ours reads the loss every step too
            elapsed = time.perf_counter() - started
            if verbose:
                print(f"train batch {index}: {elapsed * 1e3:.1f} ms, loss {loss_value:.4f}", file=sys.stderr)
            if timed:
                seconds += elapsed
                tokens += int(raw_batches[index]["tokens"])
                steps += 1
            if not math.isfinite(loss_value):
                raise SystemExit(f"{name}: loss {loss_value} at batch {index}")
    else:
        model.eval()
        with torch.inference_mode():
            for index, timed in schedule():
                batch = batches[index]
                started = time.perf_counter()
                loss_value = loss_of(model, batch, config, False).item()
                elapsed = time.perf_counter() - started
                if verbose:
                    print(f"score batch {index}: {elapsed * 1e3:.1f} ms, loss {loss_value:.4f}", file=sys.stderr)
                if timed:
                    seconds += elapsed
                    tokens += int(raw_batches[index]["tokens"])
                    steps += 1

    return {
        "impl": "pytorch",
        "model": name,
        "phase": phase,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
        "steps": steps,
        "torch": torch.__version__,
        "threads": threads,
        "parameters": parameters,
        "final_loss": loss_value,
        # ru_maxrss is KiB on Linux (bytes on macOS)
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="workload JSON written by the Rust bench")
    parser.add_argument("--phase", choices=("train", "score"), required=True)
    parser.add_argument("--verbose", action="store_true", help="per-batch times on stderr")
    args = parser.parse_args()
    with open(args.workload) as f:
        workload = json.load(f)
    # Anything a library prints goes to stderr: stdout carries the one result line.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = run(workload, args.phase, args.verbose)
    finally:
        sys.stdout = real_stdout
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
