"""Names: snake_case of the label, aliases to the canonical types in one place."""
from __future__ import annotations

import pytest

from parsing import CANONICAL_TYPES, canonical_type, normalize_name


def test_canonical_types():
    assert CANONICAL_TYPES == ("loss", "learning_rate", "grad_norm")


@pytest.mark.parametrize("alias, canon", [
    ("lr", "learning_rate"), ("LR", "learning_rate"), ("learning-rate", "learning_rate"),
    ("learning rate", "learning_rate"), ("Learning_Rate", "learning_rate"), ("train/lr", "learning_rate"),
    ("lr-AdamW", "learning_rate"), ("lr-SGD/group0", "learning_rate"), ("train/learning_rate", "learning_rate"),
    ("grad-norm", "grad_norm"), ("gnorm", "grad_norm"), ("grad_norm", "grad_norm"), ("grad norm", "grad_norm"),
    ("total_norm", "grad_norm"), ("norm", "grad_norm"), ("optim/total_grad_norm", "grad_norm"),
    ("Loss", "loss"), ("train/loss", "loss"), ("Train/Loss", "loss"), ("lm loss", "loss"),
    ("total_loss", "loss"), ("train_loss_step", "loss"), ("reduced_train_loss", "loss"), ("loss", "loss"),
])
def test_aliases(alias, canon):
    assert canonical_type(alias) == canon


@pytest.mark.parametrize("name, normalized", [
    ("train_loss", "train_loss"), ("val_loss", "val_loss"), ("eval_loss", "eval_loss"),
    ("train_loss_epoch", "train_loss_epoch"), ("lr-AdamW/pg1", "lr_adamw_pg1"),
    ("RunningAvgSamplesPerSec", "running_avg_samples_per_sec"),
    ("memory/max_mem_active(gib)", "memory_max_mem_active_gib"), ("mfu(%)", "mfu_pct"),
    ("Acc@1", "acc1"), ("coco/bbox_mAP_50", "coco_bbox_map_50"), ("APs", "aps"),
    ("throughput per GPU (TFLOP/s/GPU)", "throughput_per_gpu_tflop_s_gpu"), ("tokens per sec", "tokens_per_sec"),
])
def test_other_names_are_snake_case(name, normalized):
    assert canonical_type(name) == normalized
    assert normalize_name(name) == normalized
