"""Formats that are not in the samples: the generic fallback, and what is never a metric."""
from __future__ import annotations

import math

import pytest

from parsing import parse_text


def records(text: str):
    return [(r.step, r.metrics) for r in parse_text(text)]


def one(line: str):
    recs = records(line + "\n")
    assert len(recs) == 1, recs
    return recs[0]


@pytest.mark.parametrize("line, step, metrics", [
    # JSON-lines loggers, nested objects and step keys
    ('{"step": 5, "train/loss": 2.1, "lr": 3e-4}', 5, {"loss": 2.1, "learning_rate": 3e-4}),
    ('{"_step": 12, "train": {"loss": 1.5, "grad_norm": 0.3}, "trainer/global_step": 12}', 12,
     {"loss": 1.5, "grad_norm": 0.3}),
    ('{"global_step": 7, "eval/loss": 2.5, "eval/accuracy": 0.5}', 7, {"eval_loss": 2.5, "eval_accuracy": 0.5}),
    # key=value
    ("step=10 loss=2.3 lr=1e-4", 10, {"loss": 2.3, "learning_rate": 1e-4}),
    ("it=100, loss=2.30, ppl=9.97", 100, {"loss": 2.3, "ppl": 9.97}),
    # a bare print(): labels and numbers in turn, one space apart
    ("step 10 loss 2.34 lr 0.001", 10, {"loss": 2.34, "learning_rate": 0.001}),
    ("epoch 3 iter 250 loss nan grad norm 1.5", 250, {"epoch": 3.0, "loss": math.nan, "grad_norm": 1.5}),
    # MLX-LM: a step head, then `key value` separated by commas
    ("Iter 10: Train loss 2.345, Learning Rate 1.000e-05, It/sec 1.234, Tokens/sec 567.890, Trained Tokens 12345",
     10, {"train_loss": 2.345, "learning_rate": 1e-05, "it_sec": 1.234, "tokens_sec": 567.89, "trained_tokens": 12345.0}),
    ("Iter 100: Val loss 2.100, Val took 12.345s", 100, {"val_loss": 2.1, "val_took": 12.345}),
    # where the logging call is (`file.py:88`, ESPnet's `(trainer:732)`) is never a metric
    ("[train.py:123] step: 5 loss: 0.5", 5, {"loss": 0.5}),
    ("[host] 2024-01-01 10:00:00,123 (trainer:732) INFO: 1epoch:train:1-100batch: iter_time=1.2e-04, loss=123.456",
     0, {"iter_time": 1.2e-04, "loss": 123.456}),
    ("INFO (main:12): step 5 loss: 0.5", 5, {"loss": 0.5}),
    # Hydra's job logging prefix; an RL return (CleanRL)
    ("[2024-01-01 10:00:00,123][__main__][INFO] - step 5 loss 0.5", 5, {"loss": 0.5}),
    ("global_step=1000, episodic_return=22.0", 1000, {"episodic_return": 22.0}),
    # pipe tables: `Step N/M | key: value | ...`
    ("Step 10/1000 | loss: 2.31 | lr: 3.0e-04 | grad_norm: 0.92", 10,
     {"loss": 2.31, "learning_rate": 3e-4, "grad_norm": 0.92}),
    # accelerate / llm.c: `step 10/100 | loss 2.31 | norm 0.91 | lr 3e-4 | (417.35 ms | 1234 tok/s)`
    ("step 10/100 | loss 2.31 | norm 0.91 | lr 3.00e-04 | (417.35 ms | 1234 tok/s)", 10,
     {"loss": 2.31, "grad_norm": 0.91, "learning_rate": 3e-4, "time_ms": 417.35, "tok_per_s": 1234.0}),
    # DeepSpeed
    ("steps: 10 loss: 2.3100 iter time (s): 0.500 samples/sec: 64.000", 10,
     {"loss": 2.31, "iter_time_s": 0.5, "samples_sec": 64.0}),
    ("[2024-01-01 10:00:00,123] [INFO] [logging.py:96:log_dist] [Rank 0] step=10, skipped=0, "
     "lr=[0.0001, 0.0001], mom=[(0.9, 0.95), (0.9, 0.95)]", 10, {"skipped": 0.0, "learning_rate": 1e-4}),
    # axolotl / trl: dicts with quoted numbers (transformers 5)
    ("{'loss': '2.3100', 'grad_norm': '0.91', 'learning_rate': '3e-05', 'epoch': '0.5'}", 0,
     {"loss": 2.31, "grad_norm": 0.91, "learning_rate": 3e-05, "epoch": 0.5}),
    ("{'loss': 4.706, 'grad_norm': nan, 'learning_rate': [0.0002], 'epoch': 0.01}", 0,
     {"loss": 4.706, "grad_norm": math.nan, "learning_rate": 2e-4, "epoch": 0.01}),
    # plain `key: value` with several-word labels, an evaluation section, sci notation, nan/inf
    ("2024-05-02 09:14:03 - INFO - root - step 7: loss=1.500E-04", 7, {"loss": 1.5e-4}),
    ("2024-05-02 09:14:03 INFO loss: nan grad_norm: inf lr: 1e-4 step: 3", 3,
     {"loss": math.nan, "grad_norm": math.inf, "learning_rate": 1e-4}),
    ("train loss: 0.51, val loss: 0.62", 0, {"train_loss": 0.51, "val_loss": 0.62}),
    ("Validation: loss=0.3 acc=0.91", 0, {"validation_loss": 0.3, "validation_acc": 0.91}),
    ("INFO:root:step 100 | loss 2.3 | lr 1e-4", 100, {"loss": 2.3, "learning_rate": 1e-4}),
    ("Epoch 1/10 - loss: 0.5 - accuracy: 0.9", 0, {"loss": 0.5, "accuracy": 0.9, "epoch": 1.0}),
    ("tokens/s: 12,345  loss: 1.25", 0, {"tokens_s": 12345.0, "loss": 1.25}),
    # XGBoost and LightGBM: the round in brackets, `name-metric:value` / `dataset's metric: value`
    ("[7]\ttrain-logloss:0.54321\teval-logloss:0.55432", 7, {"train_logloss": 0.54321, "eval_logloss": 0.55432}),
    ("[10]\ttraining's binary_logloss: 0.456789\tvalid_1's binary_logloss: 0.467891", 10,
     {"training_binary_logloss": 0.456789, "valid_1_binary_logloss": 0.467891}),
    # t5x / absl: glog prefix, then `[step] collection=train key=value, ...`
    ("I0501 12:00:01.123456 140213 logging_writer.py:48] [100] collection=train accuracy=0.456, "
     "cross_ent_loss=2.3456, learning_rate=0.001, loss=2.4567, timing/seconds=12.34", 100,
     {"accuracy": 0.456, "cross_ent_loss": 2.3456, "learning_rate": 0.001, "loss": 2.4567, "timing_seconds": 12.34}),
    # MaxText: `completed step` is the step, not a metric
    ("completed step: 100, seconds: 0.512, TFLOP/s/device: 123.456, Tokens/s/device: 4567.890, loss: 2.345", 100,
     {"seconds": 0.512, "tflop_s_device": 123.456, "tokens_s_device": 4567.89, "loss": 2.345}),
    # torchtune: a pipe segment holding several `key:value` pairs with no space after the colon
    ("INFO:torchtune.utils._logging:Step 100 | loss:2.3456 lr:0.0001 tokens_per_second_per_gpu:1234.5", 100,
     {"loss": 2.3456, "learning_rate": 1e-4, "tokens_per_second_per_gpu": 1234.5}),
    # torchtune: the loss and global step live in the progress bar's description
    ("1|100|Loss: 2.3456:  10%|█         | 100/1000 [00:50<07:30,  2.00it/s]", 100, {"loss": 2.3456, "epoch": 1.0}),
    # pytorch/examples: ImageNet's ProgressMeter (tab-separated `Label value (average)`), MNIST
    ("Epoch: [0][  10/5005]\tTime  0.512 ( 0.600)\tData  0.012 ( 0.050)\tLoss 6.9078e+00 (6.9080e+00)\t"
     "Acc@1   0.00 (  0.10)", 10,
     {"time": 0.512, "time_avg": 0.6, "data": 0.012, "data_avg": 0.05, "loss": 6.9078, "loss_avg": 6.908,
      "acc1": 0.0, "acc1_avg": 0.1, "epoch": 0.0}),
    ("Train Epoch: 2 [640/60000 (1%)]\tLoss: 2.278193", 60640, {"loss": 2.278193, "epoch": 2.0}),
    # mmcv 1.x (MMDetection 2): epochs count from 1; `eta: 1 day, 0:30:51` is no metric
    ("2024-05-01 12:00:00,123 - mmdet - INFO - Epoch [2][50/7330]\tlr: 2.000e-02, eta: 1 day, 0:30:51, "
     "time: 0.512, data_time: 0.012, memory: 3456, loss_rpn_cls: 0.1234, loss: 1.2345", 7380,
     {"learning_rate": 0.02, "time": 0.512, "data_time": 0.012, "memory": 3456.0, "loss_rpn_cls": 0.1234,
      "loss": 1.2345, "epoch": 2.0}),
    # CatBoost: the iteration in parentheses after `best` is no value
    ("12:\tlearn: 0.6543210\ttest: 0.6612345\tbest: 0.6612345 (12)\ttotal: 12.3ms\tremaining: 12.3s", 12,
     {"learn": 0.654321, "test": 0.6612345, "best": 0.6612345, "total": 12.3}),
    # PaddleOCR: `global_step` wins over the epoch
    ("[2024/05/01 12:00:00] ppocr INFO: epoch: [1/100], global_step: 10, lr: 0.001000, loss: 2.3456, "
     "avg_reader_cost: 0.01234 s, ips: 34.12345 samples/s, eta: 0:12:34", 10,
     {"learning_rate": 0.001, "loss": 2.3456, "avg_reader_cost": 0.01234, "ips": 34.12345, "epoch": 1.0}),
    # OpenNMT-py: `;`-separated `key: value` fields after `Step N/M`
    ("[2024-05-01 12:00:00,123 INFO] Step 100/10000; acc: 45.6; ppl: 12.3; xent: 2.5; lr: 0.00010; sents: 1234", 100,
     {"acc": 45.6, "ppl": 12.3, "xent": 2.5, "learning_rate": 1e-4, "sents": 1234.0}),
])
def test_generic_line(line, step, metrics):
    got_step, got = one(line)
    assert got_step == step
    assert got == pytest.approx(metrics, nan_ok=True)


@pytest.mark.parametrize("line", [
    "2024-05-02 09:14:03,118 - INFO - __main__ - Training started",
    "torch 2.1.0",
    "transformers version 4.41.2, torch==2.3.0",
    "Num examples = 2,318",
    "  Num Epochs = 3",
    "Total optimization steps = 870",
    " 45/1000 [00:05<00:15, 8.81it/s]",
    " 11%|█▏        | 98/870 [00:32<04:17,  3.00it/s]",
    "v_num=0",
    "saving checkpoint to '/ckpt/epoch=2-val_loss=6.49.ckpt'",
    "Saving model checkpoint to /out/checkpoint-500/val_loss=6.49",
    "Overriding: learning_rate = 6e-4",
    "NOTE: gradient overflow detected, ignoring gradient, setting loss scale to: 32.0",
    "[2024-01-01 10:00:00,123] [INFO] [loss_scaler.py:183:update_scale] OVERFLOW! Rank 0 Skipping step. "
    "Attempted loss scale: 65536, reducing to 32768",
    "Namespace(lr=0.001, batch_size=32, epochs=10)",
    "Loaded 12 shards from /data/shard-00012-of-00100.bin, line 532",
    "Process rank: 0, device: cuda:0, n_gpu: 1, distributed training: False, 16-bits training: True",
    "DONE (t=41.27s).",
    "Model summary: 11.2 M Trainable params, 44.696 Total estimated model params size (MB)",
    "Using the loss function CrossEntropyLoss",
    "batch size 32 lr 0.001",  # labels and numbers in turn, but no step or epoch first: a config
    "layer 3 norm 0.5",
    "process exited with return=1",
    "2024-05-02 09:14:03",
])
def test_never_a_metric(line):
    assert records(line + "\n") == []


def test_tqdm_postfix_and_epoch_global_steps():
    text = (
        "Epoch 0:  50%|█████     | 500/1000 [00:10<00:10, 47.43it/s, loss=2.31, lr=1e-4, v_num=0]\n"
        "Epoch 0: 100%|██████████| 1000/1000 [00:20<00:00, 48.77it/s, loss=2.10, lr=1e-4, v_num=0]\n"
        "Epoch 1:   0%|          | 0/1000 [00:00<?, ?it/s, loss=2.10, lr=1e-4, v_num=0]\n"
        "Epoch 1:  25%|██▌       | 250/1000 [00:05<00:15, 48.46it/s, loss=1.90, lr=1e-4, v_num=0]\n"
        "Epoch 2: 25%|██▌       | 250/1000 [00:05<00:15, 48.46it/s, loss=1.70, lr=5e-5, v_num=0]\n"
    )
    got = records(text)
    assert got[0] == (500, {"loss": 2.31, "learning_rate": 1e-4, "epoch": 0.0})
    # a stale value is not a new measurement; the epoch boundary never sends steps back
    assert got[1] == (1000, {"loss": 2.10, "epoch": 0.0})
    assert (1250, {"loss": 1.90, "epoch": 1.0}) in got
    assert got[-1] == (2250, {"loss": 1.70, "learning_rate": 5e-5, "epoch": 2.0})
    steps = [s for s, _ in got]
    assert steps == sorted(steps)


def test_an_unchanged_evaluation_value_is_stale_whatever_made_its_name():
    # timm's running averages (`Loss: 5.679 ( 6.179)` makes test_loss_avg, a name no label prints) and
    # its `best_epoch` are evaluation names as much as test_loss is: printed again unchanged, they
    # are no new point (such a name used to count only once final_name had made it somewhere: the
    # answer hung on what the process had read before)
    text = ("*** Best metric: 12.80 (epoch 1)\n*** Best metric: 12.90 (epoch 1)\n"
            + "Test: [ 195/195]  Time: 0.995 (0.792)  Loss:   5.679 ( 6.179)  Acc@1:   5.436 (  3.149)\n" * 2)
    assert [m for _, m in records(text)] == [
        {"best_metric": 12.8, "best_epoch": 1.0}, {"best_metric": 12.9},
        {"test_time": 0.995, "test_time_avg": 0.792, "test_loss": 5.679, "test_loss_avg": 6.179, "test_acc1": 5.436,
         "test_acc1_avg": 3.149}]


def test_tqdm_redraws_give_one_record_per_state():
    bar = "\r 50%|█████     | 5/10 [00:01<00:01,  4.2it/s, loss=0.5]"
    text = bar * 3 + "\r 60%|██████    | 6/10 [00:01<00:01,  4.2it/s, loss=0.4]" * 2 + "\n"
    assert records(text) == [(5, {"loss": 0.5}), (6, {"loss": 0.4})]


def test_bar_without_epoch_that_restarts_does_not_go_back():
    text = "".join(f"100%|██████████| {n}/4 [00:01<00:00, loss={l}]\n" for n, l in [(2, 0.9), (4, 0.8)])
    text += "".join(f" 50%|█████     | {n}/4 [00:01<00:00, loss={l}]\n" for n, l in [(2, 0.7), (4, 0.6)])
    assert [s for s, _ in records(text)] == [2, 4, 6, 8]


def test_trainer_dict_belongs_to_the_bar_before_it():
    text = (
        " 10%|█         | 15/150 [00:05<00:45,  3.00it/s]\r"
        "                                                 \r"
        "{'loss': 2.5, 'learning_rate': 5e-05, 'epoch': 0.3}\n"
        " 10%|█         | 15/150 [00:05<00:45,  3.00it/s]\r"
        " 20%|██        | 30/150 [00:10<00:40,  3.00it/s]\r"
        "{'loss': 2.25, 'learning_rate': 4e-05, 'epoch': 0.6}\n"
    )
    assert [s for s, _ in records(text)] == [15, 30]


def test_rich_progress_bar():
    text = (
        "Epoch 0/9  ━━━━━━━━━━━━━━━━━━━━ 250/1000 0:00:05 • 0:00:15 47.77it/s v_num: 3 train_loss_step: 1.860\n"
        "Epoch 1/9  ━━━━━━━━━━━━━━━━━━━━ 250/1000 0:00:05 • 0:00:15 47.77it/s v_num: 3 train_loss_step: 1.500 "
        "val_loss: 1.700\n"
    )
    assert records(text) == [(250, {"loss": 1.86, "epoch": 0.0}),
                             (1250, {"loss": 1.5, "val_loss": 1.7, "epoch": 1.0})]


def test_keras2_progbar_with_epoch_header():
    text = (
        "Epoch 1/2\n"
        "469/469 [==============================] - 3s 5ms/step - loss: 0.4862 - accuracy: 0.8550\n"
        "Epoch 2/2\n"
        "100/469 [=====>........................] - ETA: 1s - loss: 0.2169 - accuracy: 0.9364\n"
        "469/469 [==============================] - 3s 5ms/step - loss: 0.1466 - accuracy: 0.9570"
        " - val_loss: 0.1183 - val_accuracy: 0.9648\n"
    )
    got = records(text)
    assert [s for s, _ in got] == [469, 569, 938]
    assert got[2][1] == {"loss": 0.1466, "accuracy": 0.957, "val_loss": 0.1183, "val_accuracy": 0.9648}


@pytest.mark.parametrize("prefix", ["[rank0]:", "[default0]:", "0: ", "[1,0]<stdout>:"])
def test_rank_prefixes_are_stripped(prefix):
    got = records(f"{prefix}step 5 loss=2.31\n{prefix}step 6 loss=2.25\n")
    assert got == [(5, {"loss": 2.31}), (6, {"loss": 2.25})]


def test_duplicate_rank_lines_keep_the_lowest_rank():
    text = ""
    for step in (1, 2, 3):
        text += f"[rank0]:step {step} loss={3 - step * 0.5} tps={1000 + step}\n"
        text += f"[rank1]:step {step} loss={3 - step * 0.5} tps={900 + step}\n"
    got = records(text)
    assert got == [(1, {"loss": 2.5, "tps": 1001.0}), (2, {"loss": 2.0, "tps": 1002.0}),
                   (3, {"loss": 1.5, "tps": 1003.0})]


def test_srun_label_ranks():
    text = "0: starting\n1: starting\n"  # a rank label repeats; one `5: ...` line is not a rank
    text += "".join(f"{r}: step {s} loss={s / 10}\n" for s in (1, 2) for r in (0, 1))
    assert records(text) == [(1, {"loss": 0.1}), (2, {"loss": 0.2})]


def test_a_number_prefix_seen_once_is_not_a_rank():
    assert records("5: loss=2.0\n6: loss=1.5\n") == [(0, {"loss": 2.0}), (1, {"loss": 1.5})]


def test_markdown_table():
    text = "| epoch | loss | acc |\n|---|---|---|\n| 1 | 0.5 | 0.9 |\n| 2 | 0.4 | 0.95 |\n"
    assert records(text) == [(0, {"epoch": 1.0, "loss": 0.5, "acc": 0.9}), (1, {"epoch": 2.0, "loss": 0.4, "acc": 0.95})]


def test_counter_numbers_records_of_a_log_without_steps():
    assert [s for s, _ in records("loss: 2.0\nloss: 1.5\nloss: 1.0\n")] == [0, 1, 2]


def test_thousands_units_and_percent():
    step, metrics = one("step: 3  loss: 1.25  memory: 71.24GiB(74.99%)  tps: 5,417  mfu: 26.41%  time: 38.5ms")
    assert step == 3
    assert metrics == {"loss": 1.25, "memory": 71.24, "memory_pct": 74.99, "tps": 5417.0, "mfu": 26.41, "time": 38.5}


def test_resumed_run_may_restart_steps():
    got = records("step=100 loss=1.0\nstep=200 loss=0.9\nstep=150 loss=0.95\n")
    assert [s for s, _ in got] == [100, 200, 150]  # the log itself restarted: kept as printed


@pytest.mark.parametrize("line, step, metrics", [
    # `step N: k v | k v` is pipe-separated, not one long label
    ("step 0: loss 3.00000 | wall 1790000000.123", 0, {"loss": 3.0, "wall": 1790000000.123}),
    ("step 10: loss 2.5 | lr 1e-4 | grad_norm 0.5", 10, {"loss": 2.5, "learning_rate": 1e-4, "grad_norm": 0.5}),
    ("iter 7: loss: 2.5 | lr: 1e-4", 7, {"loss": 2.5, "learning_rate": 1e-4}),
    ("Step 3: loss 2.0 | acc 0.5", 3, {"loss": 2.0, "acc": 0.5}),
    ("Step 3/100: loss 2.0 | lr 1e-3", 3, {"loss": 2.0, "learning_rate": 1e-3}),
    ("iter 10 | loss 2.3 | lr 1e-4", 10, {"loss": 2.3, "learning_rate": 1e-4}),
    ("iter 10: loss 2.3, time 5.0ms", 10, {"loss": 2.3, "time": 5.0}),
])
def test_step_then_key_value_segments(line, step, metrics):
    got_step, got = one(line)
    assert got_step == step
    assert got == pytest.approx(metrics)


def test_a_plain_timestamp_line_does_not_shadow_a_longer_logging_prefix():
    # the bare-timestamp prefix matched last must not take the date off a fairseq line
    text = ("2025-02-11 10:31:07.112093: I starting\n"
            "2021-05-04 09:59:00 | INFO | train_inner | epoch 001:    100 / 1124 loss=12.8, num_updates=100\n"
            "[INFO] setting up\n"
            "[titan] 2025-06-16 22:28:10,245 - root - INFO - step:  1  loss: 11.5\n")
    assert records(text) == [(100, {"loss": 12.8, "epoch": 1.0}), (1, {"loss": 11.5})]
