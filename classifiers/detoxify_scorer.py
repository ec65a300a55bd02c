"""The Detoxify scorer (extra ``detoxify``: ``torch==2.13.0``, ``detoxify==0.5.4``).

Detoxify (https://github.com/unitaryai/detoxify, 0.5.4) models: ``original``
(bert-base-uncased), ``unbiased`` (roberta-base), ``multilingual`` (xlm-roberta-base),
``original-small`` and ``unbiased-small`` (albert-base-v2).

This scorer only loads checkpoints from disk, offline: a checkpoint prepared by
``school-monitor model fetch NAME --dir DIR`` (see :mod:`classifiers.fetch`), whose
``config.arch.args.model_type`` names a local folder with the base model's config and
tokenizer files. Before anything is unpickled, the checkpoint's SHA-256 is compared with
the one recorded by the fetch (``manifest.json`` beside it) and/or pinned in the config
(``checkpoint_sha256``): Detoxify loads with ``torch.load(weights_only=False)``, which runs
pickled code, so an unrecorded or mismatching file is refused. ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` are set before transformers is imported, so nothing contacts
huggingface.co.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from classifiers.base import ScorerError
from monitor.domain import DETOXIFY_LABELS

if TYPE_CHECKING:
    from monitor.config import ClassifierConfig

MODELS: tuple[str, ...] = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_sha256(checkpoint: Path) -> str | None:
    """The SHA-256 recorded for ``checkpoint`` in the ``manifest.json`` of its folder
    (written by :func:`classifiers.fetch.record_manifest`), or None.

    :raises ScorerError: the manifest exists but is not valid JSON.
    """
    path = checkpoint.parent / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScorerError(f"cannot read checkpoint manifest {path}: {exc}") from None
    entry = data.get("checkpoints", {}).get(checkpoint.name)
    return entry.get("sha256") if isinstance(entry, dict) else None


def verify_checkpoint(checkpoint: Path, pinned_sha256: str | None = None) -> str:
    """Check a checkpoint's SHA-256 against the recorded and/or pinned value.

    :returns: the verified SHA-256.
    :raises ScorerError: file missing, no SHA-256 recorded or pinned, the two disagree, or
        the file does not match.
    """
    if not checkpoint.is_file():
        raise ScorerError(
            f"[classifier] checkpoint: {checkpoint} does not exist; fetch it on a connected "
            "machine with `school-monitor model fetch NAME --dir DIR` and copy DIR here"
        )
    recorded = recorded_sha256(checkpoint)
    pinned = pinned_sha256.lower() if pinned_sha256 else None
    if recorded and pinned and recorded.lower() != pinned:
        raise ScorerError(
            f"[classifier] checkpoint_sha256 {pinned} differs from the SHA-256 {recorded} "
            f"recorded in {checkpoint.parent / MANIFEST}; refusing to load {checkpoint}"
        )
    expected = pinned or (recorded.lower() if recorded else None)
    if not expected:
        raise ScorerError(
            f"no SHA-256 recorded for {checkpoint} (no {MANIFEST} entry and no "
            "[classifier] checkpoint_sha256); refusing to unpickle an unverified checkpoint"
        )
    actual = file_sha256(checkpoint)
    if actual != expected:
        raise ScorerError(
            f"checkpoint {checkpoint} has SHA-256 {actual}, expected {expected}: the file "
            "is corrupt or was replaced; refusing to load it (torch.load would run its pickled code)"
        )
    return actual


class DetoxifyScorer:
    """A :class:`~classifiers.base.Scorer` running a Detoxify checkpoint on the CPU.

    :param checkpoint: a checkpoint file prepared by ``model fetch``.
    :param model: the Detoxify model name it holds (for ``name``: ``detoxify-<model>``).
    :param huggingface_config_path: folder with the base model's ``config.json`` and
        tokenizer files (default: the one recorded in the manifest, else Detoxify's
        ``model_type`` from the checkpoint).
    :param checkpoint_sha256: pinned SHA-256 (config ``checkpoint_sha256``).
    :param torch_threads: ``torch.set_num_threads`` (config ``torch_threads``).
    :raises ScorerError: the extra is not installed, the checkpoint is unverified or fails
        to load.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        model: str = "original",
        huggingface_config_path: str | Path | None = None,
        checkpoint_sha256: str | None = None,
        torch_threads: int = 1,
    ):
        if model not in MODELS:
            raise ScorerError(f"[classifier] detoxify_model: unknown model {model!r} (expected one of {', '.join(MODELS)})")
        ckpt = Path(checkpoint)
        sha = verify_checkpoint(ckpt, checkpoint_sha256)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch
            from detoxify import Detoxify
        except ImportError as exc:
            raise ScorerError(
                f"[classifier] backend = \"detoxify\" needs the detoxify extra ({exc.name} is missing): "
                "pip install torch==2.13.0 first, then 'school-social-monitor[detoxify]'"
            ) from None
        torch.set_num_threads(int(torch_threads))
        try:  # keep stderr clean: transformers shows a progress bar while loading weights
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers always comes with detoxify
            pass
        hf = str(huggingface_config_path) if huggingface_config_path else None
        try:
            self._model = Detoxify(checkpoint=str(ckpt), device="cpu", huggingface_config_path=hf)
        except Exception as exc:  # noqa: BLE001 - torch/transformers raise many types
            raise ScorerError(
                f"cannot load Detoxify checkpoint {ckpt}: {type(exc).__name__}: {exc} "
                "(its config.arch.args.model_type must name a local folder with the base "
                "model's config and tokenizer files; `school-monitor model fetch` prepares it)"
            ) from None
        self._model.model.eval()
        self._torch = torch
        self.name = f"detoxify-{model}"
        self.version = f"{model}+sha256:{sha[:8]}"
        self.sha256 = sha
        self.labels: tuple[str, ...] = tuple(l for l in DETOXIFY_LABELS if l in self._model.class_names)

    @classmethod
    def from_config(cls, cfg: "ClassifierConfig", base_dir: str | Path | None = None) -> "DetoxifyScorer":
        """Build from ``[classifier]``: ``checkpoint`` (required), ``detoxify_model``,
        ``huggingface_config_path``, ``checkpoint_sha256``, ``torch_threads``. Relative
        paths are taken from ``base_dir``.

        :raises ScorerError: ``checkpoint`` not set, or as the constructor.
        """
        if not cfg.checkpoint:
            raise ScorerError(
                "[classifier] checkpoint is required with backend = \"detoxify\" (this scorer "
                "never downloads): run `school-monitor model fetch "
                f"{cfg.detoxify_model} --dir DIR` on a connected machine and set checkpoint "
                "and huggingface_config_path to the files it prints"
            )

        def resolve(p: str | None) -> Path | None:
            if p is None:
                return None
            path = Path(p).expanduser()
            return path if path.is_absolute() or base_dir is None else Path(base_dir) / path

        return cls(
            checkpoint=resolve(cfg.checkpoint),  # type: ignore[arg-type]
            model=cfg.detoxify_model,
            huggingface_config_path=resolve(cfg.huggingface_config_path),
            checkpoint_sha256=cfg.checkpoint_sha256,
            torch_threads=cfg.torch_threads,
        )

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score a batch with one forward pass (padded, truncated to the model's maximum
        length): one ``{label: probability}`` per text, input order, for :attr:`labels`.
        """
        texts = list(texts)
        if not texts:
            return []
        raw = self._model.predict(texts)
        out: list[dict[str, float]] = [{} for _ in texts]
        for label in self.labels:
            col = raw[label]
            if not isinstance(col, list):  # Detoxify squeezes a batch of one to a float
                col = [col]
            for d, v in zip(out, col):
                d[label] = float(v)
        return out
