"""Metric names: snake_case of what the log says, and the one table mapping aliases to canonical types.

`canonical_type` is the only place that knows `lr` is `learning_rate`; the parser, the API's
`types=` parameter and the chart's selector all go through it.
"""
from __future__ import annotations

import re

CANONICAL_TYPES = ("loss", "learning_rate", "grad_norm")

# Keys are compared after `_alias_key` (lowercase, runs of anything but letters, digits and `/`
# turned into one `_`), so `lm loss`, `LM-Loss` and `lm_loss` are one entry. Epoch aggregates
# and evaluation values (`train_loss`, `val_loss`, `eval_loss`, ...) are deliberately absent:
# they keep their own names so they never pollute the per-step training series.
_ALIASES: dict[str, tuple[str, ...]] = {
    "loss": (
        "loss", "lm loss", "total_loss", "total loss", "train_loss_step", "reduced_train_loss",
        "train/loss", "train/lm loss", "train/crossentropyloss", "loss/train/total", "loss/train",
        "training_loss_step",
    ),
    "learning_rate": (
        "learning_rate", "learning rate", "learningrate", "lr", "train/learning_rate", "train/lr",
        "optim/lr", "lr/group0", "lr_group0", "lr/pg0",
    ),
    "grad_norm": (
        "grad_norm", "grad norm", "gradnorm", "gnorm", "total_norm", "norm", "gradient_norm",
        "gradient norm", "grad_norm/total", "optim/total_grad_norm", "optim/grad_norm",
        "l2_norm/grad/global", "total_grad_norm", "global_grad_norm", "train/grad_norm",
    ),
}

# Namespaces that say "this is the training value" and nothing more: `train/loss` is `loss`.
_TRAIN_NAMESPACES = ("train/", "training/", "trainer/", "metrics/", "optim/", "optimizer/")

# Lightning's LearningRateMonitor: `lr-AdamW`, `lr-AdamW/pg0`, `lr-SGD/group0` (group 0 only).
_LR_MONITOR = re.compile(r"lr-[a-z0-9_]+(?:/(?:pg|group)0)?", re.IGNORECASE)

_NON_KEY = re.compile(r"[^a-z0-9/]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _alias_key(name: str) -> str:
    return _NON_KEY.sub("_", name.lower()).strip("_")


_ALIAS_OF: dict[str, str] = {
    _alias_key(alias): canon for canon, aliases in _ALIASES.items() for alias in aliases
}


def normalize_name(name: str) -> str:
    """snake_case of a printed label: `RunningAvgSamplesPerSec` -> `running_avg_samples_per_sec`,
    `memory/max_mem_active(gib)` -> `memory_max_mem_active_gib`, `mfu(%)` -> `mfu_pct`,
    `Acc@1` -> `acc1`, `bbox_mAP` -> `bbox_map`. Cached: a log prints the same labels all along."""
    cached = _NORMALIZED.get(name)
    if cached is not None:
        return cached
    s = name.strip().replace("%", "_pct_").replace("@", "")
    s = _CAMEL.sub("_", s).lower()
    s = _NON_WORD.sub("_", s).strip("_")
    if len(_NORMALIZED) < 100_000:
        _NORMALIZED[name] = s
    return s


_NORMALIZED: dict[str, str] = {}


def canonical_type(name: str) -> str:
    """The canonical type for an alias (`lr`, `LR`, `learning-rate` -> `learning_rate`;
    `grad-norm`, `gnorm` -> `grad_norm`; `Loss`, `train/loss`, `lm loss` -> `loss`); any other
    name comes back normalized (snake_case) but otherwise unchanged."""
    cached = _CACHE.get(name)
    if cached is not None:
        return cached
    key = _alias_key(name)
    canon = _ALIAS_OF.get(key)
    if canon is None:
        for ns in _TRAIN_NAMESPACES:
            if key.startswith(ns):
                canon = _ALIAS_OF.get(key[len(ns):])
                break
    if canon is None and _LR_MONITOR.fullmatch(name.strip()):
        canon = "learning_rate"
    if canon is None:
        canon = normalize_name(name)
    if len(_CACHE) < _CACHE_MAX:
        _CACHE[name] = canon
    return canon


_CACHE: dict[str, str] = {}
_CACHE_MAX = 100_000
