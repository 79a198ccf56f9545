"""Tables printed without pipes and blocks with their own row shape: column tables (fastai,
spaCy, YOLO), key/value boxes (Stable-Baselines3), rich's drawn tables (Lightning's test results)
and Composer's `[batch=N/M]:` blocks."""
from __future__ import annotations

import pytest

from parsing import parse_text


def records(text: str):
    return [(r.step, r.metrics) for r in parse_text(text)]


def test_fastai_epoch_table_with_clock_times():
    text = (
        "epoch     train_loss  valid_loss  accuracy  time    \n"
        "0         0.345678    0.234567    0.912345  00:12     \n"
        "1         0.234567    0.198765    0.934567  01:02     \n"
    )
    assert records(text) == [
        (0, {"epoch": 0.0, "train_loss": 0.345678, "valid_loss": 0.234567, "accuracy": 0.912345, "time": 12.0}),
        (1, {"epoch": 1.0, "train_loss": 0.234567, "valid_loss": 0.198765, "accuracy": 0.934567, "time": 62.0}),
    ]


def test_spacy_table_takes_its_step_from_the_hash_column():
    text = (
        "E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE \n"
        "---  ------  ------------  --------  ------  ------  ------  ------\n"
        "  0       0          0.00     49.00    0.00    0.00    0.00    0.00\n"
        "  0     200         34.56   1234.56   45.67   50.12   41.23    0.46\n"
        "✔ Saved pipeline to output directory\n"
    )
    got = records(text)
    assert [step for step, _ in got] == [0, 200]
    assert got[1][1] == {"e": 0.0, "loss_tok2vec": 34.56, "loss_ner": 1234.56, "ents_f": 45.67, "ents_p": 50.12,
                         "ents_r": 41.23, "score": 0.46}


def test_yolo_rows_with_a_glued_bar_step_by_epoch_and_batch():
    header = "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size\n"
    row = "{e}/100      2.34G      {loss}      2.345      1.456         45        640:  {pct}%|███       | {n}/50 [00:30<00:00,  3.30it/s]\n"
    text = (header + "      " + row.format(e=1, loss="1.234", pct=10, n=5) + "      " + row.format(e=1, loss="1.200", pct=100, n=50)
            + header + "      " + row.format(e=2, loss="1.100", pct=10, n=5))
    got = records(text)
    assert [step for step, _ in got] == [5, 50, 55]  # (epoch - 1) * 50 + batch
    assert got[0][1] == {"epoch": 1.0, "gpu_mem": 2.34, "box_loss": 1.234, "cls_loss": 2.345, "dfl_loss": 1.456,
                         "instances": 45.0, "size": 640.0}
    assert got[2][1]["box_loss"] == 1.1


def test_stable_baselines3_box_is_one_record_at_total_timesteps():
    box = (
        "------------------------------------\n"
        "| rollout/           |             |\n"
        "|    ep_len_mean     | 22.4        |\n"
        "|    ep_rew_mean     | 21.9        |\n"
        "| time/              |             |\n"
        "|    fps             | 1234        |\n"
        "|    iterations      | {it}           |\n"
        "|    total_timesteps | {ts}        |\n"
        "| train/             |             |\n"
        "|    learning_rate   | 0.0003      |\n"
        "|    loss            | {loss}        |\n"
        "------------------------------------\n"
    )
    got = records(box.format(it=1, ts=2048, loss=5.67) + "some text\n" + box.format(it=2, ts=4096, loss=4.5))
    assert [step for step, _ in got] == [2048, 4096]
    assert got[0][1] == {"rollout_ep_len_mean": 22.4, "rollout_ep_rew_mean": 21.9, "time_fps": 1234.0,
                         "learning_rate": 0.0003, "loss": 5.67}


def test_composer_batch_block_is_one_record():
    text = (
        "[batch=100/1000]:\n"
        "\t Train time/batch: 99\n"
        "\t Train loss/train/total: 2.3456\n"
        "\t Train metrics/train/LanguageCrossEntropy: 2.3456\n"
        "\t Train lr-DecoupledAdamW/group0: 0.0001\n"
        "[batch=101/1000]:\n"
        "\t Train loss/train/total: 2.3001\n"
    )
    assert records(text) == [
        (100, {"time_batch": 99.0, "loss": 2.3456, "metrics_train_language_cross_entropy": 2.3456,
               "learning_rate": 0.0001}),
        (101, {"loss": 2.3001}),
    ]


@pytest.mark.parametrize("text", [
    # Lightning's model summary: rules around rows that are not `| name | value |`
    "  | Name  | Type | Params\n---------------------------------\n0 | model | GPT  | 124 M\n"
    "---------------------------------\n124 M     Trainable params\n",
    # Keras model.summary(): a column header that names no training quantity
    "Layer (type)                Output Shape              Param #\n"
    "dense (Dense)               (None, 128)               100480\n",
    # a header followed by rows of another width
    "epoch  train_loss  valid_loss\n1 2 3 4 5\n",
    # a rule alone, and rules around a plain line
    "----------------------------------------\nTraining done\n----------------------------------------\n",
])
def test_tables_of_other_things_give_no_records(text):
    assert records(text) == []


def test_a_box_the_log_ends_inside_still_gives_its_record():
    text = "--------------------\n| train/  |        |\n|    loss | 0.5    |\n"
    assert records(text) == [(0, {"loss": 0.5})]


_LIGHTNING_TEST = (
    "Testing DataLoader 0: 100%|██████████| 79/79 [00:01<00:00, 61.23it/s]\n"
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓\n"
    "┃        Test metric        ┃       DataLoader 0        ┃\n"
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩\n"
    "│         test_acc          │    0.9872000217437744     │\n"
    "│         test_loss         │    0.0625826045870781     │\n"
    "└───────────────────────────┴───────────────────────────┘\n"
)


def test_lightning_test_results_drawn_by_rich_are_one_record_at_the_training_step():
    """`trainer.test()` after training: its table is one record at the last training step (the
    testing bar does not move it)."""
    train = ("Epoch 0: 100%|██████████| 1000/1000 [00:20<00:00, 48.42it/s, v_num=3, train_loss_step=1.060]\n"
             "Epoch 1: 100%|██████████| 1000/1000 [00:20<00:00, 48.42it/s, v_num=3, train_loss_step=0.402]\n")
    got = records(train + _LIGHTNING_TEST)
    assert got[-1] == (2000, {"test_acc": 0.9872000217437744, "test_loss": 0.0625826045870781})
    assert [m for _, m in got].count(got[-1][1]) == 1
    assert parse_text(train + _LIGHTNING_TEST)[-1].line == 4  # the table's top border


def test_drawn_tables_take_the_one_value_of_a_row_and_nothing_else():
    multi = ("┏━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓\n"
             "┃ Validate metric           ┃ DataLoader 0 ┃ DataLoader 1 ┃\n"
             "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩\n"
             "│ val_loss/dataloader_idx_0 │    0.5       │              │\n"
             "│ val_loss/dataloader_idx_1 │              │    0.7       │\n"
             "└───────────────────────────┴──────────────┴──────────────┘\n")
    summary = ("┏━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━┓\n"
               "┃   ┃ Name  ┃ Type             ┃ Params ┃\n"
               "┡━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━┩\n"
               "│ 0 │ model │ ResNet           │ 11.2 M │\n"
               "│ 1 │ fc    │ Linear           │    513 │\n"
               "└───┴───────┴──────────────────┴────────┘\n"
               "Trainable params: 11.2 M\n")
    assert records(multi + summary) == [(0, {"val_loss_dataloader_idx_0": 0.5, "val_loss_dataloader_idx_1": 0.7})]
    # rounded borders; a table the log ends inside; a top border that starts another
    rounded = "╭──────┬───────╮\n│ loss │ 0.25  │\n╰──────┴───────╯\n"
    assert records(rounded + "┏━━━━━━┳━━━━━━┓\n│ lr │ 0.1 │\n┏━━━━━━┓\n│ lr │ 0.2 │\n") == [
        (0, {"loss": 0.25}), (1, {"learning_rate": 0.1}), (2, {"learning_rate": 0.2})]


def test_a_line_that_is_no_row_ends_a_drawn_table_and_is_read():
    text = "┏━━━━━━┳━━━━━━┓\n│ loss │ 0.5 │\nval loss: 0.25\n"
    assert records(text) == [(0, {"loss": 0.5}), (1, {"val_loss": 0.25})]


def test_the_fast_path_reads_tables_as_the_full_parser_does():
    """Rows of an open table are the full parser's; a row shape seen outside a table (learned as a
    line that gives nothing) must not swallow the same shape inside one."""
    from tests.parsing.test_fastpath import assert_same, needs_fastcore, redrawn

    if needs_fastcore.args[0]:
        pytest.skip("parsing._fastcore not built")
    fastai = ("epoch     train_loss  valid_loss  accuracy  time    \n"
              + "".join(f"{e}         0.{e}45678    0.234567    0.912345  00:1{e % 10}     \n" for e in range(6)))
    box = ("------------------------------------\n| time/              |             |\n"
           "|    total_timesteps | 2048        |\n| train/             |             |\n"
           "|    loss            | 5.67        |\n------------------------------------\n")
    composer = "[batch=100/1000]:\n\t Train loss/train/total: 2.3456\n\t Train time/batch: 99\n"
    composer += _LIGHTNING_TEST
    loose = "".join(f"{i}         0.345678    0.234567    0.912345  00:12     \n" for i in range(4))  # no header
    text = (loose + fastai + "done\n") * 3 + box * 4 + composer * 3 + loose + fastai
    assert_same(text + redrawn(text, 3) + redrawn(text, 4))
