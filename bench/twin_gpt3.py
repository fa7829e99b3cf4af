"""Twin of the GPT-2 / GPT-3 decoder: papers/gpt3/src/model.rs (model),
papers/gpt3/src/training.rs (loss, optimiser, clipping)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from twin_common import long_tensor, merge_heads

GPT_STD = 0.02


def gpt_linear(d_in, d_out, std):
    layer = nn.Linear(d_in, d_out)
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.zeros_(layer.bias)
    return layer


class GptAttention(nn.Module):
    def __init__(self, c, residual_std):
        super().__init__()
        d = c["n_embd"]
        self.n_head = c["n_head"]
        self.c_attn = gpt_linear(d, 3 * d, GPT_STD)
        self.c_proj = gpt_linear(d, d, residual_std)
        self.attn_pdrop = c.get("attn_pdrop", 0.1)
        self.resid_dropout = nn.Dropout(c.get("resid_pdrop", 0.1))

    def forward(self, x):
        batch, length, width = x.shape
        qkv = self.c_attn(x).view(batch, length, 3, self.n_head, width // self.n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, T, d_head)
        context = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_pdrop if self.training else 0.0
        )
        return self.resid_dropout(self.c_proj(merge_heads(context)))


class GptMlp(nn.Module):
    def __init__(self, c, residual_std):
        super().__init__()
        d = c["n_embd"]
        d_ff = c.get("n_inner") or 4 * d
        self.c_fc = gpt_linear(d, d_ff, GPT_STD)
        self.c_proj = gpt_linear(d_ff, d, residual_std)
        self.dropout = nn.Dropout(c.get("resid_pdrop", 0.1))
        activation = c.get("activation_function", "gelu_new")
        if activation not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"activation_function {activation!r} is not implemented")
        self.approximate = "none" if activation == "gelu" else "tanh"

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class GptBlock(nn.Module):
    """Pre-LN: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, c, residual_std):
        super().__init__()
        eps = c.get("layer_norm_epsilon", 1e-5)
        self.ln_1 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.attn = GptAttention(c, residual_std)
        self.ln_2 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.mlp = GptMlp(c, residual_std)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    """Ours: `Gpt` (wte, wpe, h, ln_f; output layer tied to wte, no bias)."""

    def __init__(self, c):
        super().__init__()
        d = c["n_embd"]
        residual_std = GPT_STD / math.sqrt(2 * c["n_layer"])  # GPT-2 §2.3
        self.wte = nn.Embedding(c["vocab_size"], d)
        self.wpe = nn.Embedding(c["n_positions"], d)
        nn.init.normal_(self.wte.weight, 0.0, GPT_STD)
        nn.init.normal_(self.wpe.weight, 0.0, GPT_STD)
        self.drop = nn.Dropout(c.get("embd_pdrop", 0.1))
        self.h = nn.ModuleList(GptBlock(c, residual_std) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(d, eps=c.get("layer_norm_epsilon", 1e-5))

    def forward(self, input_ids):
        length = input_ids.shape[1]
        x = self.drop(self.wte(input_ids) + self.wpe.weight[:length].unsqueeze(0))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def gpt_loss(model, batch, config, training):
    logits = model(batch["input_ids"])
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch["targets"].reshape(-1), ignore_index=-100
    )


def convert_batch(raw):
    return {key: long_tensor(raw[key]) for key in ("input_ids", "targets")}
