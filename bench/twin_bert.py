"""Twin of BERT with its pre-training heads: papers/bert/src/model.rs (model),
papers/bert/src/pretraining.rs (loss, optimiser)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from twin_common import long_tensor, merge_heads, split_heads

BERT_STD = 0.02


def bert_linear(d_in, d_out):
    layer = nn.Linear(d_in, d_out)
    nn.init.normal_(layer.weight, 0.0, BERT_STD)
    nn.init.zeros_(layer.bias)
    return layer


def bert_embedding(count, width):
    embedding = nn.Embedding(count, width)
    nn.init.normal_(embedding.weight, 0.0, BERT_STD)
    return embedding


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = bert_embedding(c["vocab_size"], h)
        self.position_embeddings = bert_embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = bert_embedding(c.get("type_vocab_size", 2), h)
        self.layer_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))

    def forward(self, input_ids, token_type_ids):
        length = input_ids.shape[1]
        summed = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings.weight[:length].unsqueeze(0)
        )
        return self.dropout(self.layer_norm(summed))


class BertSelfAttention(nn.Module):
    """Ours: `SelfAttention` (query, key, value, output, output_norm; dropout on the attention
    weights and on the output projection, then the residual LayerNorm)."""

    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.n_heads = c["num_attention_heads"]
        self.query = bert_linear(h, h)
        self.key = bert_linear(h, h)
        self.value = bert_linear(h, h)
        self.output = bert_linear(h, h)
        self.output_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))
        self.attention_dropout_p = c.get("attention_probs_dropout_prob", 0.1)

    def forward(self, x, allowed):
        q = split_heads(self.query(x), self.n_heads)
        k = split_heads(self.key(x), self.n_heads)
        v = split_heads(self.value(x), self.n_heads)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed,
            dropout_p=self.attention_dropout_p if self.training else 0.0,
        )
        return self.output_norm(x + self.dropout(self.output(merge_heads(context))))


class BertFeedForward(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.intermediate = bert_linear(h, i)
        self.output = bert_linear(i, h)
        self.output_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(c.get("hidden_dropout_prob", 0.1))

    def forward(self, x):
        fed = self.output(F.gelu(self.intermediate(x)))  # erf GELU
        return self.output_norm(x + self.dropout(fed))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertSelfAttention(c)
        self.feed_forward = BertFeedForward(c)

    def forward(self, x, allowed):
        return self.feed_forward(self.attention(x, allowed))


class Bert(nn.Module):
    """Ours: `Bert` (embeddings, layers, pooler)."""

    def __init__(self, c):
        super().__init__()
        self.causal = bool(c.get("causal", False))
        self.embeddings = BertEmbeddings(c)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))
        self.pooler = bert_linear(c["hidden_size"], c["hidden_size"])

    def forward(self, input_ids, token_type_ids, attention_mask):
        length = input_ids.shape[1]
        allowed = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T), keys that are real
        if self.causal:  # our LTR ablation (Table 5); the twin supports it for completeness
            causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
            allowed = allowed & causal[None, None]
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.layers:
            x = layer(x, allowed)
        return x


class MaskedLmHead(nn.Module):
    """Ours: `MaskedLmHead`: LayerNorm(GELU(W h + b)) @ word_embeddingsᵀ + bias."""

    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.transform = bert_linear(h, h)
        self.transform_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))

    def forward(self, hidden, word_embeddings):
        transformed = self.transform_norm(F.gelu(self.transform(hidden)))
        return F.linear(transformed, word_embeddings, self.bias)


class BertForPreTraining(nn.Module):
    """Ours: `BertForPreTraining` = `bert` + `mlm` (decoder tied to the word embeddings) + `nsp`."""

    def __init__(self, c):
        super().__init__()
        self.bert = Bert(c)
        self.mlm = MaskedLmHead(c)
        self.nsp = bert_linear(c["hidden_size"], 2)

    def forward(self, input_ids, token_type_ids, attention_mask, mlm_rows):
        """MLM logits (N, V) at the flattened positions `mlm_rows` of B·T, and NSP logits (B, 2)."""
        batch, length = input_ids.shape
        x = self.bert(input_ids, token_type_ids, attention_mask)
        # Ours computes the MLM head on the predicted rows only (`mlm_logits` selects them first).
        picked = x.reshape(batch * length, -1).index_select(0, mlm_rows)
        mlm_logits = self.mlm(picked, self.bert.embeddings.word_embeddings.weight)
        pooled = torch.tanh(self.bert.pooler(x[:, 0]))  # [CLS]
        return mlm_logits, self.nsp(pooled)


def bert_loss(model, batch, config, training):
    mlm_logits, nsp_logits = model(
        batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["mlm_rows"]
    )
    loss = F.cross_entropy(mlm_logits, batch["mlm_targets"])
    if batch["nsp_labels"] is None:  # ours drops NSP for the "No NSP" objectives (Table 5)
        return loss
    return loss + F.cross_entropy(nsp_logits, batch["nsp_labels"])


def convert_batch(raw):
    labels = long_tensor(raw["mlm_labels"]).reshape(-1)
    rows = (labels != -100).nonzero().squeeze(1)  # ours: `LmBatch::rows`, built with the batch
    return {
        "input_ids": long_tensor(raw["input_ids"]),
        "token_type_ids": long_tensor(raw["token_type_ids"]),
        "attention_mask": long_tensor(raw["attention_mask"]),
        "mlm_rows": rows,
        "mlm_targets": labels.index_select(0, rows),
        "nsp_labels": long_tensor(raw["nsp_labels"]) if raw.get("nsp_labels") is not None else None,
    }
