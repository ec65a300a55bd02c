"""The Detoxify path on a tiny BERT checkpoint loaded through Detoxify's own code:
offline preparation (model_type rewrite + manifest), SHA-256 refusal, batching."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.detoxify

torch = pytest.importorskip("torch")
pytest.importorskip("detoxify")

import classifiers  # noqa: E402
from classifiers.base import ScorerError  # noqa: E402
from classifiers.detoxify_scorer import DetoxifyScorer, file_sha256, verify_checkpoint  # noqa: E402
from classifiers.fetch import expected_prefix, fetch_model, prepare_checkpoint, read_model_type, record_manifest  # noqa: E402
from monitor.domain import SIGNALS  # noqa: E402
from monitor.config import ClassifierConfig  # noqa: E402

_spec = importlib.util.spec_from_file_location("tiny_detoxify", Path(__file__).with_name("tiny_detoxify.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory) -> tuple[Path, Path]:
    return tiny.build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def prepared(tiny_raw, tmp_path_factory) -> tuple[Path, Path, str]:
    raw, base = tiny_raw
    out = tmp_path_factory.mktemp("models")
    dest = out / "original.ckpt"
    sha = prepare_checkpoint(raw, base, dest)
    record_manifest(out, dest, sha, "original", base, source="test")
    return dest, base, sha


def test_prepare_rewrites_model_type_and_records_sha(prepared, tiny_raw):
    dest, base, sha = prepared
    assert read_model_type(tiny_raw[0]) == "bert-base-uncased"
    assert read_model_type(dest) == str(base)
    assert sha == file_sha256(dest)
    manifest = json.loads((dest.parent / "manifest.json").read_text())
    entry = manifest["checkpoints"]["original.ckpt"]
    assert entry["sha256"] == sha and entry["model"] == "original"
    assert verify_checkpoint(dest) == sha


def test_loads_offline_through_detoxify_and_scores_batches(prepared):
    dest, base, sha = prepared
    s = DetoxifyScorer(dest, model="original", huggingface_config_path=base, torch_threads=1)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert s.name == "detoxify-original"
    assert s.version == f"original+sha256:{sha[:8]}"
    assert s.labels == ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
    texts = ["you are an idiot", "lovely photos well done", "thank you teacher", "i hate school"]
    batch = s.score(texts)
    assert len(batch) == 4 and all(set(d) == set(s.labels) for d in batch)
    assert all(0.0 <= v <= 1.0 for d in batch for v in d.values())
    single = [s.score([t])[0] for t in texts]  # Detoxify squeezes a batch of one to floats
    for b, one in zip(batch, single):
        assert b == pytest.approx(one, abs=1e-4)
    assert s.score([]) == []
    assert torch.get_num_threads() == 1


def test_build_scorer_from_config_with_relative_paths(prepared):
    dest, base, sha = prepared
    cfg = ClassifierConfig(backend="detoxify", detoxify_model="original", checkpoint=dest.name,
                           checkpoint_sha256=sha.upper(), huggingface_config_path=str(base))
    scorer = classifiers.build_scorer(cfg, base_dir=dest.parent)
    assert scorer.name == "detoxify-original"
    # Detoxify gives its six labels, the signals model the other two
    assert scorer.labels == SIGNALS
    engine = classifiers.build_engine(cfg, base_dir=dest.parent)
    out = engine.score(["thank you teacher", "Dziękujemy bardzo za wszystko"])
    assert [s.readable for s in out] == [True, False]
    assert out[0].model == "detoxify-original"
    assert set(out[0].values) == set(SIGNALS)
    direct = DetoxifyScorer.from_config(cfg, base_dir=dest.parent).score(["thank you teacher"])[0]
    assert {k: out[0].values[k] for k in direct} == pytest.approx(direct)


def test_tampered_checkpoint_is_refused_before_unpickling(prepared, tmp_path):
    dest, base, sha = prepared
    bad = tmp_path / "original.ckpt"
    bad.write_bytes(dest.read_bytes() + b"\0")
    record_manifest(tmp_path, bad, sha, "original", base)  # the recorded hash is the good one
    with pytest.raises(ScorerError, match="expected .*refusing"):
        DetoxifyScorer(bad, huggingface_config_path=base)


def test_pinned_sha_must_agree_with_manifest(prepared):
    dest, base, sha = prepared
    with pytest.raises(ScorerError, match="differs from the SHA-256"):
        DetoxifyScorer(dest, huggingface_config_path=base, checkpoint_sha256="0" * 64)


def test_unrecorded_checkpoint_is_refused_unless_pinned(prepared, tmp_path):
    dest, base, sha = prepared
    lone = tmp_path / "lone.ckpt"
    lone.write_bytes(dest.read_bytes())
    with pytest.raises(ScorerError, match="no SHA-256 recorded"):
        DetoxifyScorer(lone, huggingface_config_path=base)
    assert DetoxifyScorer(lone, huggingface_config_path=base, checkpoint_sha256=sha).sha256 == sha


def test_not_a_detoxify_checkpoint(tmp_path):
    p = tmp_path / "x.ckpt"
    torch.save({"weights": 1}, p)
    with pytest.raises(ScorerError, match="not a Detoxify checkpoint"):
        prepare_checkpoint(p, tmp_path, tmp_path / "y.ckpt")


def test_fetch_helpers():
    assert expected_prefix("https://h/v0.1-alpha/toxic_original-c1212f89.ckpt") == "c1212f89"
    assert expected_prefix("https://h/model.ckpt") is None
    with pytest.raises(ScorerError, match="unknown Detoxify model"):
        fetch_model("huge", "/nonexistent")
