"""Builds a tiny Detoxify-format BERT checkpoint (random weights, 6 Jigsaw classes) for
tests and the Detoxify benchmark: the recipe of Detoxify's own checkpoints, small enough
to build in about a second. Needs torch and transformers (the ``detoxify`` extra)."""

from __future__ import annotations

from pathlib import Path

JIGSAW_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = ("you are a the is and idiot stupid thank great school teacher kill hate love "
         "lovely photos well done my son daughter head class").split()


def build_tiny_checkpoint(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``directory/base/`` (BERT config + WordPiece tokenizer) and
    ``directory/raw.ckpt`` (a Detoxify checkpoint whose ``model_type`` is the string
    ``"bert-base-uncased"``, as published ones are). Returns ``(raw checkpoint, base dir)``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    base = directory / "base"
    base.mkdir(exist_ok=True)
    vocab = base / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=6,
                        max_position_embeddings=128)
    model = BertForSequenceClassification(config)
    config.save_pretrained(base)
    BertTokenizer(str(vocab)).save_pretrained(base)
    ckpt = {
        "config": {
            "arch": {"args": {"model_type": "bert-base-uncased",
                              "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer", "num_classes": 6}},
            "dataset": {"args": {"classes": JIGSAW_CLASSES}},
        },
        "state_dict": model.state_dict(),
    }
    raw = directory / "raw.ckpt"
    torch.save(ckpt, raw)
    return raw, base
