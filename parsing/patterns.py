"""The table of formats: every framework the parser knows is one entry here, plus the shared
line prefixes (ranks, logging timestamps), progress bars and the generic key/value shapes.

Adding a framework is one `Format` in `FORMATS` and one sample log under `shared/logs/`: a `head`
regex anchored at the start of the message (after any rank / logging prefix), the literals the
message starts with (`starts`, which pick the candidate formats of a line without any scan), and the
shape of the text after the head (`body`). Named groups in `head` carry meaning:

    step            the global step / iteration / update printed on the line
    epoch, pos, total   the epoch and the position within it (`[2][50/7330]`): the step is
                    (epoch - epoch_base) * total + pos, and `epoch` is kept as a metric
    section         the word that prefixes bare labels (`val` -> `val_time`); a section in
                    `EVAL_SECTIONS` makes a printed batch counter mean "no training step"
    rank            the rank that printed the line
    name / value    one metric, its name printed on the line; `m_<metric>` a metric by group name
    <other>         groups named in `templates` become metrics named by the template

Every pattern is linear: repeats are bounded, alternatives start with distinct literals.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsing.values import END, NUM, UNIT

EVAL_SECTIONS = frozenset(
    {"val", "valid", "validation", "validate", "eval", "evaluation", "evaluate", "test", "testing", "dev"}
)
# A name that already starts with one of these keeps its name in a section (`val_loss` on a
# `Validation:` line stays `val_loss`).
SECTION_PREFIXES = tuple(f"{w}_" for w in sorted(EVAL_SECTIONS))

# Labels that are never metrics, whatever the format (compared after normalize_name).
NEVER_METRICS = frozenset({"v_num", "eta", "eta_s", "remaining", "elapsed_time", "pid", "rank", "local_rank",
                           "world_size", "seed", "version", "port"})
# Labels that carry the global step (compared after normalize_name).
STEP_KEYS = frozenset({"step", "steps", "it", "global_step", "globalstep", "iter", "iteration", "iterations",
                       "num_updates", "update", "updates", "train_step", "trainer_global_step",
                       "trainer/global_step", "_step", "total_steps_done", "optimizer_step",
                       "completed_step", "completed_steps", "current_step", "curr_step", "cur_step", "step_num",
                       "iter_num", "global_iter", "global_iteration", "total_timesteps", "timesteps"})


@dataclass(frozen=True)
class Format:
    name: str
    head: str
    starts: tuple[str, ...] = ()  # literals the message starts with (dispatch); else `hint`
    hint: str | None = None  # a literal the message contains, for a head that starts with a group
    body: str = "colon"  # colon | eq | pipe | comma | tab | positional | none
    kind: str = "line"  # line | epoch_header | table_title | block_header | block_row | copypaste
    epoch_base: int = 0
    section: str | None = None  # a fixed section word
    section_from_logger: bool = False  # fairseq: the logger name (`train`, `valid`) is the section
    renames: dict[str, str] = field(default_factory=dict)  # printed label -> label
    unit_names: dict[str, str] = field(default_factory=dict)  # unit of an unlabelled value -> name
    names: tuple[str, ...] = ()  # positional body: names of the values, in order
    templates: dict[str, str] = field(default_factory=dict)  # group -> metric name ("{name}" allowed)
    name_template: str | None = None  # block_row: metric name built from the row's groups
    row: str | None = None  # block_header: the regex of its rows (groups name, value); else BLOCK_ROW


_TS = (
    r"(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d\d/\d\d/\d{4},? \d\d:\d\d:\d\d(?:[.,]\d{1,9})?"
    r"|\d\d/\d\d \d\d:\d\d:\d\d(?:[.,]\d{1,9})?)"
)
_LEVEL = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|NOTICE|TRACE)"
_LOGGER = r"[\w.<>\-]{1,64}"


@dataclass(frozen=True)
class Prefix:
    """A logging prefix: `first` are the characters it can start with; groups `ts`, `logger`.
    A `weak` prefix also matches the start of a longer one (`ts` takes the date off a fairseq
    `date | INFO | logger | ` line): it is tried after the others, never promoted ahead of them."""

    name: str
    regex: str
    first: str
    weak: bool = False


_DIGITS = "0123456789"
# Rank prefixes: torchrun `--tee` / `--role` (`[rank0]:`, `[default0]:`), mpirun --tag-output
# (`[1,0]<stdout>:`); srun --label / torchrun -t (`0: `) is read in the parser.
RANK_PREFIX = re.compile(
    r"\[(?:rank|default|trainer|worker|local_rank)?(\d{1,5})\]:\s?|\[1,(\d{1,5})\]<std(?:out|err)>:\s?"
)
RANK_STARTS = ("[rank", "[default", "[trainer", "[worker", "[local_rank", "[1,")
# Logging prefixes; the one that matched last is tried first on the next line.
PREFIXES: tuple[Prefix, ...] = (
    Prefix("titan", rf"\[[A-Za-z][\w.\-]{{0,30}}\] (?P<ts>{_TS}) - {_LOGGER} - {_LEVEL} - ", "["),
    Prefix("hf_explicit", rf"\[{_LEVEL}\|[\w.\-]{{1,64}}:\d{{1,6}}\] (?P<ts>{_TS}) >> ", "["),
    Prefix("detectron2", rf"\[(?P<ts>{_TS}) (?P<logger>{_LOGGER})\]: ", "["),
    # Hydra's job logging: `[2024-01-01 10:00:00,123][__main__][INFO] - `
    Prefix("hydra", rf"\[(?P<ts>{_TS})\]\[(?P<logger>{_LOGGER})\]\[{_LEVEL}\] - ", "["),
    # Megatron `[2024-03-18 14:04:18] `; DeepSpeed `[2024-01-01 10:00:00,123] [INFO] [logging.py:96:log_dist] `
    Prefix("bracket_ts", rf"\[(?P<ts>{_TS})\](?: \[{_LEVEL}\])?(?: \[[^\]\n]{{1,100}}\]){{0,3}} ", "["),
    Prefix("bracket_level", rf"\[{_LEVEL}\] ", "[", weak=True),
    # `03/25 09:12:03 - mmengine - INFO - `, logging's `%(asctime)s - %(name)s - %(levelname)s - `
    Prefix("ts_name_level", rf"(?P<ts>{_TS}) - (?P<logger>{_LOGGER}) - {_LEVEL} - ", _DIGITS),
    # `05/02/2024 09:13:41 - WARNING - __main__ - ` (transformers examples)
    Prefix("ts_level_name", rf"(?P<ts>{_TS}) - {_LEVEL} - (?P<logger>{_LOGGER}) - ", _DIGITS),
    # `2021-05-04 09:59:00 | INFO | train_inner | ` (fairseq)
    Prefix("ts_pipes", rf"(?P<ts>{_TS}) \| {_LEVEL} \| (?P<logger>{_LOGGER}) \| ", _DIGITS),
    # `2024-05-02 09:14:03,118 INFO `, `2025-02-11 10:31:07.112093: I `
    Prefix("ts", rf"(?P<ts>{_TS})(?::| -|,)? (?:{_LEVEL}:?\s{{1,8}}|\[{_LEVEL}\]\s{{1,8}})?", _DIGITS, weak=True),
    # `I0318 14:04:18.123456  1234 file.cc:12] ` (glog / absl)
    Prefix("glog", r"[IWEF]\d{4} [\d:.]{8,30}\s{1,8}\d{1,9} [\w.\-]{1,64}:\d{1,6}\] ", "IWEF"),
    # `INFO:root:` (logging.basicConfig)
    Prefix("basic", rf"{_LEVEL}:(?P<logger>{_LOGGER}):", "DIWECNT"),
)

_N = NUM
FORMATS: tuple[Format, ...] = (
    # --- Megatron-LM -------------------------------------------------------------------------
    Format("megatron", r"iteration\s{1,16}(?P<step>\d{1,12})/\s{0,16}(?P<total>\d{1,12}) \|",
           starts=("iteration",), body="pipe"),
    Format("megatron_validation",
           r"(?P<section>validation) loss at (?:iteration (?P<step>\d{1,12})[^|\n]{0,200}|[^|\n]{1,200}) \|",
           starts=("validation loss at",), body="pipe", renames={"lm loss value": "lm loss"}),
    Format("megatron_memory", r"\(after (?P<step>\d{1,12}) iterations\) memory \(\w{1,4}\) \|",
           starts=("(after ",), body="pipe"),
    # --- torchtitan ------------------------------------------------------------------------------
    Format("torchtitan", r"(?:(?P<section>validate) )?step:\s{0,8}(?P<step>\d{1,12})\s",
           starts=("step:", "validate step:")),
    # --- detectron2 ------------------------------------------------------------------------------
    Format("detectron2", r"(?:eta: \S{1,32}\s{1,8})?iter: (?P<step>\d{1,12})\s", starts=("eta:", "iter:")),
    Format("detectron2_table_title", r"Evaluation results for (?P<task>\w{1,64}): ?$",
           starts=("Evaluation results for",), kind="table_title"),
    Format("detectron2_copypaste", r"copypaste: ", starts=("copypaste:",), kind="copypaste"),
    # --- mmengine / OpenMMLab --------------------------------------------------------------------
    Format("mmengine",
           r"Epoch\((?P<section>\w{1,16})\)\s{0,16}\[(?P<epoch>\d{1,9})\]\[\s{0,12}(?P<pos>\d{1,12})/(?P<total>\d{1,12})\]\s",
           starts=("Epoch(",), epoch_base=1),
    Format("mmengine_iter", r"Iter\((?P<section>\w{1,16})\)\s{0,16}\[\s{0,12}(?P<step>\d{1,12})/(?P<total>\d{1,12})\]\s",
           starts=("Iter(",)),
    Format("mmengine_copypaste", r"(?P<task>\w{1,64})_mAP_copypaste: ", hint="_mAP_copypaste: ", body="positional",
           names=("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")),
    # pycocotools' summary block: twelve rows, one record
    Format("pycocotools",
           r"Average (?:Precision|Recall)\s{1,8}\((?P<kind>A[PR])\) @\[ IoU=(?P<iou>[\d.:]{1,12})\s{0,8}\|"
           rf" area=\s{{0,8}}(?P<area>\w{{1,16}})\s{{0,8}}\| maxDets=\s{{0,8}}(?P<maxdets>\d{{1,6}}) \] = (?P<value>{_N})",
           starts=("Average Precision", "Average Recall"), kind="block_row",
           name_template="{kind}_iou_{iou}_area_{area}_maxdets_{maxdets}"),
    # --- timm ---------------------------------------------------------------------------------------
    Format("timm_train", r"Train: (?P<epoch>\d{1,9}) \[\s{0,12}(?P<pos>\d{1,12})/(?P<total>\d{1,12}) \(\s{0,3}\d{1,3}%\)\]\s",
           starts=("Train:",), renames={"Data": "data_time"}, unit_names={"/s": "samples_per_sec"}),
    Format("timm_test", r"(?P<section>Test)(?: \(EMA\))?: \[\s{0,12}(?P<pos>\d{1,12})/(?P<total>\d{1,12})\]\s",
           starts=("Test:", "Test (EMA):"), unit_names={"/s": "samples_per_sec"}),
    Format("timm_best", rf"\*\*\* Best metric: (?P<m_best_metric>{_N}) \(epoch (?P<m_best_epoch>\d{{1,9}})\)",
           starts=("*** Best metric",), body="none"),
    # --- nanoGPT ----------------------------------------------------------------------------------
    Format("nanogpt", r"(?:iter|step) (?P<step>\d{1,12}): (?=[A-Za-z])", starts=("iter ", "step "), body="comma"),
    # --- fairseq ----------------------------------------------------------------------------------
    Format("fairseq_inner", r"epoch (?P<epoch>\d{1,9}):\s{1,16}(?P<pos>\d{1,12}) / (?P<total>\d{1,12}) ",
           starts=("epoch ",), body="eq", epoch_base=1),
    Format("fairseq_summary", r"epoch (?P<epoch>\d{1,9}) \| (?:valid on '(?P<section>\w{1,32})' subset \| )?",
           starts=("epoch ",), body="pipe", epoch_base=1, section_from_logger=True),
    # --- PyTorch Lightning ModelCheckpoint ----------------------------------------------------------
    Format("lightning_checkpoint",
           rf"Epoch (?P<epoch>\d{{1,9}}), global step (?P<step>\d{{1,12}}): '(?P<name>[^'\n]{{1,100}})' reached"
           rf" (?P<value>{_N}) \(best (?P<best>{_N})\)",
           starts=("Epoch ",), body="none", templates={"best": "best_{name}"}),
    # --- Keras: the epoch header above the progress bars ---------------------------------------------
    Format("keras_epoch", r"Epoch (?P<epoch>\d{1,9})/(?P<total>\d{1,9})\s{0,8}$", starts=("Epoch ",),
           kind="epoch_header", epoch_base=1),
    # --- transformers: `***** train metrics *****` and its `  key = value` rows --------------------------
    Format("hf_metrics_block", r"\*{3,8} ?(?P<section>\w{1,32}) metrics ?\*{3,8}\s{0,8}$", starts=("****",),
           kind="block_header"),
    # --- pytorch/examples (ImageNet's ProgressMeter; MNIST) and mmcv 1.x ----------------------------
    Format("pytorch_meter", r"Epoch: \[(?P<epoch>\d{1,9})\]\[\s{0,12}(?P<pos>\d{1,12})/(?P<total>\d{1,12})\]\t",
           starts=("Epoch: [",), body="tab"),
    Format("pytorch_mnist", r"Train Epoch: (?P<epoch>\d{1,9}) \[(?P<pos>\d{1,12})/(?P<total>\d{1,12}) \(\d{1,3}%\)\]\s",
           starts=("Train Epoch:",), epoch_base=1),
    Format("mmcv", r"Epoch \[(?P<epoch>\d{1,9})\]\[\s{0,12}(?P<pos>\d{1,12})/(?P<total>\d{1,12})\]\s",
           starts=("Epoch [",), epoch_base=1),
    # --- CatBoost: `12:\tlearn: 0.65\ttest: 0.66\tbest: 0.66 (12)\ttotal: 1.2s\tremaining: 8s` -----------
    Format("catboost", r"(?P<step>\d{1,9}):\t(?=learn: )", hint=":\tlearn: ", body="tab"),
    # --- torchtune: the progress bar's description `{epoch}|{global step}|Loss: {loss}` ---------------
    Format("torchtune_bar", rf"(?P<epoch>\d{{1,9}})\|(?P<step>\d{{1,12}})\|Loss: (?P<m_loss>{_N})", hint="|Loss: ",
           body="none"),
    # --- MosaicML Composer's ConsoleLogger: `[batch=100/1000]:` then `\t Train loss/train/total: 2.34` rows ---
    Format("composer", r"\[(?:epoch=\d{1,9}\]\[)?batch=(?P<step>\d{1,12})/(?P<total>\d{1,12})\]:\s{0,8}$",
           starts=("[batch=", "[epoch="), kind="block_header",
           row=r"\s{0,16}(?:Train|Eval) (?P<name>[^:\n]{1,128}): (?P<value>\S[^\n]{0,64}?)\s{0,16}$"),
)

# The rows of a block opened by a `block_header` format.
BLOCK_ROW = re.compile(r"\s{0,16}(?P<name>[\w/.\-@]{1,128})\s{1,64}=\s{1,64}(?P<value>\S[^\n]{0,128}?)\s{0,64}$")

# ---- progress bars --------------------------------------------------------------------------------
# tqdm: `{desc}: {pct}%|{bar}| {n}/{total} [{elapsed}<{remaining}, {rate}{postfix}]`
TQDM = re.compile(
    r"(?P<desc>[^|\n]{0,200}?):?\s{0,8}(?:\d{1,3}%)?\|[^|\n]{0,200}\|\s{0,8}"
    r"(?P<n>\d{1,12})/(?P<total>\d{1,12}|\?)\s{0,8}\[(?P<inner>[^\[\]\n]{0,4000}(?:\[[^\]\n]{0,400}\][^\[\]\n]{0,4000}){0,16})\]"
    r"(?P<rest>[^\n]*)"
)
# tqdm without a total: `{desc}: {n}it [{elapsed}, {rate}{postfix}]`
TQDM_NOTOTAL = re.compile(
    r"(?P<desc>[^\[\n]{0,200}?):?\s{0,8}(?P<n>\d{1,12})it \[(?P<inner>[^\]\n]{0,4000})\](?P<rest>[^\n]*)"
)
# rich (Lightning RichProgressBar): `Epoch 0/9  ━━━━━━━━━ 250/1000 0:00:05 • 0:00:15 47.77it/s loss: 1.86`
RICH = re.compile(
    r"(?P<desc>[^━╸╺\n]{0,200}?)\s{0,8}[━╸╺─]{1,400}\s{1,8}(?P<n>\d{1,12})/(?P<total>\d{1,12}|\?)\s(?P<rest>[^\n]*)"
)
# Keras: `  1/469 ━━━━━━━━━━━━━━━━━━━━ 5:08 660ms/step - accuracy: 0.0929 - loss: 2.3187`
# and the Keras 2 form `469/469 [==============================] - 3s 5ms/step - loss: 0.4862`
KERAS = re.compile(
    r"\s{0,12}(?P<n>\d{1,12})/(?P<total>\d{1,12}) (?:[━─]{1,400}|\[[=>.]{0,400}\])(?P<rest>[^\n]*)"
)
BAR_EVAL_WORDS = re.compile(r"(?i)valid|eval|test|sanity|predict")
BAR_EPOCH = re.compile(r"(?i)epoch\s{0,4}(?P<epoch>\d{1,9})(?:\s{0,4}/\s{0,4}(?P<epochs>\d{1,9}))?")

# ---- key/value shapes, used by the formats above and by the generic fallback -----------------------
# `key: value` with a key of up to four words, and the extras some formats glue on:
# `Time: 0.280s,  912.88/s  (0.306s,  835.26/s)` (more values, a running average in parentheses),
# `memory: 71.24GiB(74.99%)` (a percentage in parentheses).
_V = rf"{NUM}(?:{UNIT})?"
COLON_PAIR = re.compile(
    r"(?<![\w@%/().\-])"
    r"(?P<key>[A-Za-z_(][\w@%/.\-]{0,63}(?:\([\w%/]{0,16}\))?(?: [A-Za-z_(][\w@%/().\-]{0,63}){0,3}?)"
    rf"\s?:\s{{0,32}}(?P<num>{NUM})(?P<unit>{UNIT})?"
    rf"(?P<extra>(?:,\s{{1,8}}{_V}){{0,4}}(?:\s{{0,8}}\(\s{{0,12}}{_V}(?:,\s{{1,8}}{_V}){{0,4}}\s{{0,4}}\))?){END}"
)
# `key=value`, `key = value`, `key=[first, ...]`
EQ_PAIR = re.compile(
    r"(?<![\w.\-/])(?P<key>[A-Za-z_][\w@%/.\-]{0,63})\s?=\s?(?:\[\s{0,4})?"
    rf"(?P<num>{NUM})(?P<unit>{UNIT})?{END}"
)
# Labels and numbers in turn and nothing else, one space apart, from a step or epoch on (a bare
# print(): `step 10 loss 2.34 lr 0.001`; a config's `batch size 32 lr 0.001` is none): the whole
# line, then each pair (a label of up to three words)
_SPACED_LABEL = r"[A-Za-z_][\w/.\-]{0,63}(?: [A-Za-z_][\w/.\-]{0,63}){0,2}"
SPACED_LINE = re.compile(rf"\s{{0,8}}(?i:step|iter(?:ation)?|it|epoch|batch|update)s? \d{{1,12}}"
                         rf"(?:\s{{1,8}}{_SPACED_LABEL} {NUM}){{1,32}}\s{{0,8}}$")
SPACED_PAIR = re.compile(rf"(?P<key>{_SPACED_LABEL}) (?P<num>{NUM})(?=\s|$)")
# A step head before a line's fields (MLX's `Iter 10: Train loss 2.345, Learning Rate 1e-05`)
STEP_HEAD = re.compile(r"\s{0,8}(?i:iter(?:ation)?|step|epoch|batch)\s{0,4}\[?\d{1,12}"
                       r"(?:\s{0,4}/\s{0,4}\d{1,12})?\]?\s{0,4}:\s")
# A value printed with no label but a unit (llm.c's `(417.35 ms | 1234 tok/s)`).
UNIT_ONLY = re.compile(rf"\s{{0,64}}\(?(?P<num>{NUM}) ?(?P<unit>{UNIT})\)?\s{{0,64}}$")
# Python dict / JSON object entries, numbers possibly quoted: `{'loss': '4.706', 'lr': [1e-4]}`
DICT_PAIR = re.compile(
    r"""['"](?P<key>[^'"\n]{1,128})['"]\s{0,8}:\s{0,8}(?:\[\s{0,4})?(?P<q>['"]?)"""
    rf"(?P<num>{NUM})(?P=q)(?=\s{{0,8}}[,}}\]])"
)
# Generic step and epoch/position fields: `Step 10/1000`, `steps: 10`, `iter 5`, `Epoch 2: 250/1000`,
# `epoch [1][50/7330]`.
GENERIC_STEP = re.compile(
    r"(?<![\w.])(?i:global[_ ]step|steps?|iter(?:ation)?s?|num_updates|updates?)['\"]?\s{0,4}[:=#]?\s{0,8}"
    r"\[?\s{0,8}(?P<step>\d{1,12})(?![\d.eE])(?:\s{0,4}/\s{0,4}(?P<total>\d{1,12}))?"
)
GENERIC_EPOCH = re.compile(
    r"(?<![\w.])(?i:epoch)['\"]?\s{0,4}[:=#]?\s{0,4}\[?\s{0,4}(?P<epoch>\d{1,9})(?![\d.])\]?"
    r"(?:\s{0,4}/\s{0,4}(?P<epochs>\d{1,9})\]?)?"
    r"(?:\s{0,4}[:,|]?\s{0,4}\[?\s{0,8}(?P<pos>\d{1,12})\s{0,4}/\s{0,4}(?P<total>\d{1,12})(?![\d.]))?"
)
# A step in brackets opening the line: XGBoost / LightGBM `[10]\ttrain-logloss:0.54`, t5x `[100] loss=2.3`
BRACKET_STEP = re.compile(r"\s{0,8}\[(?P<step>\d{1,12})\](?=\s)")
# The section word that starts an evaluation line: `Validation: ...`, `eval | ...`, `Test set: ...`
GENERIC_SECTION = re.compile(r"(?i)\s{0,8}(?P<section>validation|validate|valid|val|evaluation|eval|test|dev)\b[\s:|\-,]")

# What makes an unknown line worth the generic parser: a label that names a training quantity.
# (Applied to lowercased text: a case-insensitive scan costs several times more.)
def by_first_letter(*words: str) -> str:
    """An alternation of regex words grouped by their first character (`l(?:oss|r)|a(?:cc|uc)`):
    `re` tries the alternatives of a group one by one at every position of a scan, so a line costs
    one test per group instead of one per word (about half the time for METRIC_WORDS). Matches
    exactly what the flat alternation matches."""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0], []).append(w[1:])
    return "|".join(f"{re.escape(c)}(?:{'|'.join(rests)})" if len(rests) > 1 or rests[0] else re.escape(c)
                    for c, rests in groups.items())


METRIC_WORDS = re.compile(
    r"(?<![a-z])(?:" + by_first_letter(
        "loss", "lr", "learning", "gnorm", "norm", "acc", "accuracy", "ppl", "perplexity", "reward", "rewards", "kl",
        "entropy", "f1", "bleu", r"rouge\w{0,4}", "auc", "map", "wer", "cer", "err", "error", "mse", "mae", "rmse",
        "score", "mfu", "tflops", "tps", "throughput", "tokens", "samples", "precision", "recall", "iou", "miou",
        "dice", "bpb", "bpc", "nll", "logloss", "mlogloss", "l1", "l2", "ndcg", "merror", "xent",
        "return") + r")(?![a-z])"
)
# Lines that talk about metrics without reporting one: events, configuration, checkpoints.
# (Applied to lowercased text.)
NEVER_LINES = re.compile(
    r"overflow|reducing|setting|skipping|saving|saved|checkpoint|ckpt|loading|resum|overrid"
    r"|namespace\(|config|argument|hyperparam|warning|deprecat|will be|if you|should|exit code|exited"
)

# One printed value and what may be glued to it, when a value is more than a plain float:
# `71.24GiB(74.99%)`, `0.280s,  912.88/s  (0.306s,  835.26/s)`, `'4.706'`, `[0.0001, 0.0001]`, `5,417`.
VALUE_GROUP = re.compile(
    rf"\s{{0,64}}(?:\[\s{{0,4}})?(['\"]?)(?P<num>{NUM})\1(?P<unit>{UNIT})?"
    rf"(?P<more>(?:,\s{{1,8}}{_V}){{0,4}})"
    rf"(?:\s{{0,8}}\((?P<paren>\s{{0,12}}{_V}(?:,\s{{1,8}}{_V}){{0,4}})\s{{0,4}}\))?{END}"
)
EXTRA_VALUE = re.compile(rf"(?P<num>{NUM})(?P<unit>{UNIT})?")
