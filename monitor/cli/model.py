"""``school-monitor model ...``: fetch a Detoxify model for offline use, and check or
describe the configured scorer.

* ``model fetch NAME --dir DIR [--target-dir PATH]``: on a connected machine with the
  ``detoxify`` extra, download Detoxify model NAME (original, unbiased, multilingual,
  original-small, unbiased-small) and its base model's config and tokenizer files into
  DIR, rewrite the checkpoint for offline loading and record its SHA-256 in
  ``DIR/manifest.json`` (:func:`classifiers.fetch.fetch_model`). Prints the
  ``[classifier]`` settings to use.
* ``model verify --config CONF``: load the configured scorer exactly as the daemon does
  (SHA-256 checks included) and score one sentence; exit 1 if it cannot.
* ``model info``: the packaged embedded model (version, labels, training metadata) and
  the language detector's languages.
"""

from __future__ import annotations

import argparse
import json

from monitor.cli.util import CommandError, add_config_arg, load_config_from_args


def cmd_fetch(args: argparse.Namespace) -> int:
    """Handler of ``model fetch``."""
    from classifiers.base import ScorerError
    from classifiers.fetch import fetch_model

    try:
        path = fetch_model(args.name, args.dir, target_dir=args.target_dir)
    except ScorerError as exc:
        raise CommandError(str(exc)) from None
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["checkpoints"][path.name]
    target = args.target_dir or str(path.parent)
    print(f"fetched {args.name} to {path}")
    print("[classifier]")
    print('backend = "detoxify"')
    print(f'detoxify_model = "{args.name}"')
    print(f'checkpoint = "{target}/{path.name}"')
    print(f'checkpoint_sha256 = "{entry["sha256"]}"')
    print(f'huggingface_config_path = "{entry["huggingface_config_path"]}"')
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Handler of ``model verify``: builds the configured engine and scores a sentence."""
    from classifiers import ScorerError, build_engine

    config = load_config_from_args(args)
    try:
        engine = build_engine(config.classifier, base_dir=config.base_dir)
        scores = engine.score(["Thank you to all the staff for a lovely trip."])[0]
    except ScorerError as exc:
        raise CommandError(f"scorer check failed: {exc}") from None
    s = engine.scorer
    print(f"[ok] {s.name} {s.version}: labels {', '.join(s.labels)}; "
          f"readable languages {', '.join(engine.readable_languages)}; "
          f"test sentence toxicity {scores.get('toxicity'):.3f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Handler of ``model info``: prints the packaged signals model's metadata as JSON."""
    from classifiers.base import ScorerError
    from classifiers.language import DEFAULT_LANGUAGES
    from classifiers.signals import SIGNALS_DIR, SignalsScorer

    try:
        scorer = SignalsScorer()
    except ScorerError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps({
        "embedded": {
            "version": scorer.version,
            "labels": list(scorer.labels),
            "encoder": {"model": "all-MiniLM-L6-v2, ONNX int8", "max_length": scorer.encoder.max_length,
                        "dim": scorer.encoder.dim},
            "ngram_features": len(scorer.ngram.model.features),
            "directory": str(SIGNALS_DIR),
            "model_card": str(SIGNALS_DIR / "MODEL_CARD.md"),
        },
        "language_detection": {"library": "lingua-language-detector", "mode": "low accuracy",
                               "languages": list(DEFAULT_LANGUAGES)},
    }, indent=2))
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``model fetch``, ``model verify`` and ``model info`` to the sub-parsers."""
    from classifiers.detoxify_scorer import MODELS

    p = sub.add_parser("model", help="fetch a Detoxify model for offline use; check or describe the scorer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)

    f = msub.add_parser("fetch", help="download and prepare a Detoxify model (needs internet and the detoxify extra)")
    f.add_argument("name", metavar="NAME", choices=MODELS, help=f"one of: {', '.join(MODELS)}")
    f.add_argument("--dir", required=True, metavar="DIR", help="folder to download into")
    f.add_argument("--target-dir", metavar="PATH",
                   help="where DIR will be on the server that loads it (default: DIR); the checkpoint points there")
    f.set_defaults(func=cmd_fetch)

    v = msub.add_parser("verify", help="load the configured scorer (with its SHA-256 checks) and score a sentence")
    add_config_arg(v)
    v.set_defaults(func=cmd_verify)

    i = msub.add_parser("info", help="show the packaged signals model and the language detector settings")
    i.set_defaults(func=cmd_info)
