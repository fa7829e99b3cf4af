"""Twin of the Transformer of "Attention Is All You Need": papers/attention/src/model.rs (model),
papers/attention/src/training.rs (loss, optimiser)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from twin_common import long_tensor, merge_heads, split_heads


def xavier_linear(d_in, d_out):
    """Ours: burn `Linear` with `Initializer::XavierUniform { gain: 1 }` on the weight AND the bias
    (burn initialises the bias with the layer's initialiser and fans)."""
    layer = nn.Linear(d_in, d_out)
    bound = math.sqrt(6.0 / (d_in + d_out))
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)
    return layer


def sinusoidal_table(max_len, d_model):
    """§3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same)."""
    table = torch.zeros(max_len, d_model)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    i = torch.arange((d_model + 1) // 2, dtype=torch.float64)
    angle = position / torch.pow(10000.0, 2.0 * i / d_model)
    table[:, 0::2] = torch.sin(angle).float()
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2]).float()
    return table


class MultiHeadAttention(nn.Module):
    """Ours: `MultiHeadAttention` (query, key, value, output; no attention dropout)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.query = xavier_linear(d_model, d_model)
        self.key = xavier_linear(d_model, d_model)
        self.value = xavier_linear(d_model, d_model)
        self.output = xavier_linear(d_model, d_model)

    def forward(self, queries, keys_values, allowed):
        """`allowed` is a bool mask broadcastable to (B, h, T, S), True where a query may look."""
        q = split_heads(self.query(queries), self.n_heads)
        k = split_heads(self.key(keys_values), self.n_heads)
        v = split_heads(self.value(keys_values), self.n_heads)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.output(merge_heads(context))


class PositionWiseFeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.inner = xavier_linear(d_model, d_ff)
        self.outer = xavier_linear(d_ff, d_model)

    def forward(self, x):
        return self.outer(F.relu(self.inner(x)))


class EncoderLayer(nn.Module):
    """Post-LN: LayerNorm(x + Dropout(Sublayer(x)))."""

    def __init__(self, c):
        super().__init__()
        self.self_attention = MultiHeadAttention(c["d_model"], c["n_heads"])
        self.feed_forward = PositionWiseFeedForward(c["d_model"], c["d_ff"])
        self.norm_attention = nn.LayerNorm(c["d_model"], eps=1e-5)
        self.norm_feed_forward = nn.LayerNorm(c["d_model"], eps=1e-5)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x, source_allowed):
        x = self.norm_attention(x + self.dropout(self.self_attention(x, x, source_allowed)))
        return self.norm_feed_forward(x + self.dropout(self.feed_forward(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attention = MultiHeadAttention(c["d_model"], c["n_heads"])
        self.cross_attention = MultiHeadAttention(c["d_model"], c["n_heads"])
        self.feed_forward = PositionWiseFeedForward(c["d_model"], c["d_ff"])
        self.norm_self = nn.LayerNorm(c["d_model"], eps=1e-5)
        self.norm_cross = nn.LayerNorm(c["d_model"], eps=1e-5)
        self.norm_feed_forward = nn.LayerNorm(c["d_model"], eps=1e-5)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x, memory, target_allowed, memory_allowed):
        x = self.norm_self(x + self.dropout(self.self_attention(x, x, target_allowed)))
        x = self.norm_cross(x + self.dropout(self.cross_attention(x, memory, memory_allowed)))
        return self.norm_feed_forward(x + self.dropout(self.feed_forward(x)))


class Transformer(nn.Module):
    """Ours: `Transformer`. One embedding shared by source, target and the (bias-free)
    pre-softmax projection; embeddings scaled by √d_model; sinusoidal positions a constant."""

    PAD = 0

    def __init__(self, c):
        super().__init__()
        self.d_model = c["d_model"]
        self.embedding = nn.Embedding(c["vocab_size"], c["d_model"])
        nn.init.normal_(self.embedding.weight, 0.0, c["d_model"] ** -0.5)
        positional = c.get("positional", "sinusoidal").lower()
        if positional == "learned":
            self.learned_positions = nn.Embedding(c["max_len"], c["d_model"])
            nn.init.normal_(self.learned_positions.weight, 0.0, c["d_model"] ** -0.5)
        elif positional == "sinusoidal":
            self.learned_positions = None
            self.register_buffer(
                "sinusoids", sinusoidal_table(c["max_len"], c["d_model"]), persistent=False
            )
        else:
            raise ValueError(f"unknown positional encoding {positional!r}")
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(c["n_layers"]))
        self.decoder = nn.ModuleList(DecoderLayer(c) for _ in range(c["n_layers"]))
        self.dropout = nn.Dropout(c["dropout"])

    def embed(self, tokens):
        length = tokens.shape[1]
        table = self.learned_positions.weight if self.learned_positions is not None else self.sinusoids
        positions = table[:length].unsqueeze(0)
        return self.dropout(self.embedding(tokens) * math.sqrt(self.d_model) + positions)

    def forward(self, source, target_input):
        # (B, 1, 1, S): keys that are not padding.
        source_allowed = (source != self.PAD)[:, None, None, :]
        length = target_input.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=source.device).tril()
        # (B, 1, T, T): neither a later position nor padding.
        target_allowed = causal[None, None] & (target_input != self.PAD)[:, None, None, :]
        memory = self.embed(source)
        for layer in self.encoder:
            memory = layer(memory, source_allowed)
        x = self.embed(target_input)
        for layer in self.decoder:
            x = layer(x, memory, target_allowed, source_allowed)
        return F.linear(x, self.embedding.weight)  # tied, no bias (§3.4)


def attention_loss(model, batch, config, training):
    logits = model(batch["source"], batch["target_input"])
    # Ours: q = (1 - ε)·onehot + ε/V over real target tokens, mean per real token — exactly
    # F.cross_entropy's label_smoothing with ignore_index. Scoring mirrors our dev loss
    # (`negative_log_likelihood`: no smoothing).
    smoothing = config.get("label_smoothing", 0.1) if training else 0.0
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        batch["target_output"].reshape(-1),
        ignore_index=Transformer.PAD,
        label_smoothing=smoothing,
    )


def convert_batch(raw):
    return {key: long_tensor(raw[key]) for key in ("source", "target_input", "target_output")}
