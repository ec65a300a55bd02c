"""Fetch a Detoxify model for offline use (``school-monitor model fetch NAME --dir DIR``).

Run on a connected machine with the ``detoxify`` extra, then copy DIR to the server.
Steps (:func:`fetch_model`):

1. download the checkpoint from Detoxify's GitHub release (``detoxify.detoxify.MODEL_URLS``,
   detoxify 0.5.4) with httpx, and check the SHA-256 prefix its file name carries (the
   torch.hub convention, e.g. ``toxic_original-c1212f89.ckpt``) before unpickling it;
2. download the base model's ``config.json`` and tokenizer files (the checkpoint's
   ``config.arch.args.model_type``, e.g. ``bert-base-uncased``) from the Hugging Face Hub
   with ``huggingface_hub.snapshot_download`` into ``DIR/<base model>/``;
3. :func:`prepare_checkpoint`: rewrite ``ckpt["config"]["arch"]["args"]["model_type"]`` to
   that folder as it will be on the server (Detoxify always calls
   ``from_pretrained(model_type)``, which otherwise contacts huggingface.co), re-save as
   ``DIR/<name>.ckpt`` and compute its SHA-256;
4. :func:`record_manifest`: record it in ``DIR/manifest.json``, which
   :class:`classifiers.detoxify_scorer.DetoxifyScorer` checks before loading.

Steps 3 and 4 need no network; the tests run them on a tiny BERT checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from classifiers.base import ScorerError
from classifiers.detoxify_scorer import MANIFEST, MODELS, file_sha256

#: Base model files needed offline (config and every tokenizer format in use by the
#: five models: WordPiece vocab.txt, BPE vocab.json + merges.txt, SentencePiece models).
BASE_MODEL_FILES = (
    "config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")


def expected_prefix(url: str) -> str | None:
    """The SHA-256 prefix a torch.hub-style file name carries, e.g. ``c1212f89`` for
    ``.../toxic_original-c1212f89.ckpt``; None if it has none."""
    m = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def download(url: str, dest: Path, timeout: float = 60.0) -> str:
    """Stream ``url`` to ``dest`` (via ``dest.part``, renamed when complete) and return
    its SHA-256.

    :raises ScorerError: HTTP error status or network failure (naming the URL), or a
        SHA-256 that does not start with the prefix in the file name.
    """
    import httpx

    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as r:
            if r.status_code != 200:
                raise ScorerError(f"download of {url} failed: HTTP {r.status_code}")
            with open(part, "wb") as fh:
                for chunk in r.iter_bytes(1 << 20):
                    h.update(chunk)
                    fh.write(chunk)
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise ScorerError(f"download of {url} failed: {type(exc).__name__}: {exc}") from None
    digest = h.hexdigest()
    prefix = expected_prefix(url)
    if prefix and not digest.startswith(prefix):
        part.unlink(missing_ok=True)
        raise ScorerError(f"download of {url}: SHA-256 {digest} does not start with {prefix} as its name says")
    part.replace(dest)
    return digest


def read_model_type(checkpoint: Path) -> str:
    """The ``config.arch.args.model_type`` of a checkpoint (unpickles it: trusted files
    only)."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return str(ckpt["config"]["arch"]["args"]["model_type"])


def prepare_checkpoint(src: Path, base_model_dir: str | Path, dest: Path) -> str:
    """Rewrite a Detoxify checkpoint so it loads offline; return the new SHA-256.

    Sets ``ckpt["config"]["arch"]["args"]["model_type"]`` to ``base_model_dir`` (the
    folder holding the base model's config and tokenizer files, as it will be on the
    machine that loads it) and saves the checkpoint to ``dest``.

    :raises ScorerError: ``src`` is not a Detoxify checkpoint (no ``config``/``state_dict``).
    """
    import torch

    ckpt: Any = torch.load(src, map_location="cpu", weights_only=False)
    try:
        args = ckpt["config"]["arch"]["args"]
        _ = ckpt["state_dict"]
    except (KeyError, TypeError):
        raise ScorerError(f"{src} is not a Detoxify checkpoint (needs config.arch.args and state_dict)") from None
    args["model_type"] = str(base_model_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(dest)
    return file_sha256(dest)


def record_manifest(directory: Path, checkpoint: Path, sha256: str, model: str,
                    huggingface_config_path: str | Path, source: str | None = None) -> Path:
    """Record a prepared checkpoint in ``directory/manifest.json`` (other entries kept).

    The entry, under ``checkpoints[<file name>]``: ``sha256``, ``model``,
    ``huggingface_config_path``, ``source`` (URL) and ``recorded_at`` (ISO 8601 UTC).
    Returns the manifest path.
    """
    path = Path(directory) / MANIFEST
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("checkpoints", {})[checkpoint.name] = {
        "sha256": sha256,
        "model": model,
        "huggingface_config_path": str(huggingface_config_path),
        "source": source,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def fetch_model(name: str, directory: str | Path, target_dir: str | Path | None = None) -> Path:
    """Download and prepare Detoxify model ``name`` in ``directory``; return the prepared
    checkpoint's path (``directory/<name>.ckpt``).

    :param target_dir: where ``directory`` will be on the server (default: ``directory``
        itself, absolute); the checkpoint's ``model_type`` points there.
    :raises ScorerError: unknown name, the extra missing, or a download failure.
    """
    if name not in MODELS:
        raise ScorerError(f"unknown Detoxify model {name!r} (expected one of {', '.join(MODELS)})")
    try:
        from detoxify.detoxify import MODEL_URLS
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ScorerError(f"model fetch needs the detoxify extra ({exc.name} is missing)") from None
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    target = Path(target_dir) if target_dir else d
    url = MODEL_URLS[name]
    raw = d / url.rsplit("/", 1)[-1]
    if not (raw.exists() and (p := expected_prefix(url)) and file_sha256(raw).startswith(p)):
        download(url, raw)
    base = read_model_type(raw)
    local_name = Path(base).name
    try:
        snapshot_download(repo_id=base, local_dir=d / local_name, allow_patterns=list(BASE_MODEL_FILES))
    except Exception as exc:  # noqa: BLE001 - hub errors vary by version
        raise ScorerError(f"cannot download base model {base} from the Hugging Face Hub: {exc}") from None
    dest = d / f"{name}.ckpt"
    sha = prepare_checkpoint(raw, target / local_name, dest)
    record_manifest(d, dest, sha, name, target / local_name, source=url)
    raw.unlink()
    return dest
