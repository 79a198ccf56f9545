"""Learned line templates kept beyond one parser: shared in a process, cached on disk (parsing/templates.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parsing import StreamParser, TemplateStore, fastpath, parse_file, templates
from tests.parsing.test_fastpath import CORPUS, bench_log, needs_fastcore, redrawn
from tests.parsing.test_stream import TEXTS

ROOT = Path(__file__).resolve().parents[2]
TEXT = "".join(TEXTS)


def read(text: str, store: TemplateStore | None, pure: bool = False) -> list[tuple]:
    parser = StreamParser(pure=pure, templates=store)
    return [fastpath.record_key(r) for r in parser.feed(text) + parser.finish()]


@pytest.fixture
def studies(monkeypatch) -> list[bytes]:
    """The keys the parsers study from now on (fastpath.Learner.learn calls)."""
    seen: list[bytes] = []
    learn = fastpath.Learner.learn

    def counted(self, pre, line, key, lineno, **kw):
        seen.append(key)
        return learn(self, pre, line, key, lineno, **kw)

    monkeypatch.setattr(fastpath.Learner, "learn", counted)
    return seen


def test_tests_keep_templates_in_memory():
    assert templates.cache_dir() is None  # tests/conftest.py: no test reads the user's cache
    assert templates.shared_templates().path is None


@needs_fastcore
def test_a_parser_takes_what_another_learned_and_studies_nothing(studies):
    store = TemplateStore()
    want = read(TEXT, None, pure=True)
    assert read(TEXT, store) == want
    first = len(studies)
    assert len(store) > 20 and first > 20
    del studies[:]
    parser = StreamParser(templates=store)
    assert [fastpath.record_key(r) for r in parser.feed(TEXT) + parser.finish()] == want
    assert studies == []
    assert len(parser._engine) > 20  # taken from the store, and reading
    # the same line shapes, other numbers: some in contexts never met (digits redrawn make an
    # `Epoch 0/3` that moves the epoch base, dates that are none)
    text = redrawn(TEXT, 5)
    assert read(text, store) == read(text, None, pure=True)
    assert 0 < len(studies) < first / 4


@needs_fastcore
def test_every_template_of_the_samples_survives_the_file(tmp_path, studies):
    path = tmp_path / "t.json"
    store = TemplateStore(path)
    read(TEXT, store)
    assert store.save()
    held = [spec for specs in store._by_key.values() for spec in specs]
    codes = json.loads(path.read_text())
    assert len(codes) == len(held) > 20
    loaded = TemplateStore(path)
    assert loaded.loaded == len(held)
    # each comes back as it was: the same encoding, the formats and regexes C compares by identity the same objects
    for spec in held:
        back = loaded.get(spec[0])
        assert templates._encoded(spec) in [templates._encoded(b) for b in back]
    # and is held by the encoding it was read with (a load does not encode it again)
    assert set(loaded._held) == {templates._encoded(spec) for spec in held}
    objects = {id(o) for specs in loaded._by_key.values() for spec in specs for o in _leaves(spec)}
    assert objects & {id(cf) for cf in fastpath._FORMATS}  # block templates name their format
    del studies[:]
    text = redrawn(TEXT, 9)
    assert read(text, loaded) == read(text, None, pure=True)
    assert studies == []


def _leaves(x):
    if isinstance(x, (tuple, list)):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


@needs_fastcore
def test_saving_merges_with_what_another_process_saved(tmp_path):
    path = tmp_path / "t.json"
    a, b = TemplateStore(path), TemplateStore(path)
    read(TEXTS[0], a)
    read(TEXTS[1], b)
    assert a.save() and b.save()  # b read the file a wrote, and added its own
    merged = TemplateStore(path)
    want = {templates._encoded(s) for store in (a, b) for specs in store._by_key.values() for s in specs}
    got = {templates._encoded(s) for specs in merged._by_key.values() for s in specs}
    assert got == want and len(got) > len(a) and len(got) > len(b)
    assert not list(tmp_path.glob("*.tmp"))


@needs_fastcore
def test_a_damaged_file_costs_learning_never_output(tmp_path):
    path = tmp_path / "t.json"
    good = TemplateStore(path)
    read(TEXTS[0], good)
    good.save()
    items = json.loads(path.read_text())
    bad = [{"t": [{"b": "x"}, 99]}, "not a template", {"o": "no_such_object"}, {"zz": 1}, [1, 2]]
    path.write_text(json.dumps(bad + items))
    store = TemplateStore(path)
    assert store.loaded == len(items)
    text = redrawn(TEXTS[0], 3)
    assert read(text, store) == read(text, None, pure=True)
    for junk in ("", "{", "[1,", "\0\xff", "{}"):
        path.write_text(junk, encoding="latin-1")
        assert TemplateStore(path).loaded == 0


def test_the_file_is_per_version_of_the_parser(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINBOARD_TEMPLATE_CACHE", str(tmp_path))
    path = templates.cache_path()
    if not fastpath.available():
        assert path is None
        return
    assert path.parent == tmp_path and templates.code_version() in path.name
    copy = tmp_path / "parsing"
    copy.mkdir()
    for f in templates._PARSING.glob("*.py"):
        (copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(templates, "_PARSING", copy)
    same = templates.code_version()
    (copy / "parser.py").write_text((copy / "parser.py").read_text() + "\n# changed\n")
    assert templates.code_version() != same  # a changed parser never reads its old templates
    for off in ("off", "0", ""):
        monkeypatch.setenv("TRAINBOARD_TEMPLATE_CACHE", off)
        assert templates.cache_path() is None


def test_old_versions_are_tidied(tmp_path):
    for i in range(templates.KEEP_FILES + 3):
        old = tmp_path / f"templates-old{i}.json"
        old.write_text("[]")
        os.utime(old, (i, i))
    current = tmp_path / "templates-now.json"
    current.write_text("[]")
    templates._tidy(current)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["templates-now.json"] + [f"templates-old{i}.json" for i in range(3, templates.KEEP_FILES + 3)])


@needs_fastcore
def test_the_cli_saves_its_templates_and_the_next_run_starts_with_them(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(TEXT)
    env = {**os.environ, "TRAINBOARD_TEMPLATE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-m", "parsing", str(log)], capture_output=True, text=True, env=env, check=True)
    files = list((tmp_path / "cache").glob("templates-*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert len(saved) > 20
    again = subprocess.run([sys.executable, "-m", "parsing", str(log)], capture_output=True, text=True, env=env, check=True)
    assert again.stdout == first.stdout and first.stdout.count("\n") > 50
    assert len(json.loads(files[0].read_text())) == len(saved)  # nothing new learned from the same log
    keys = fastpath.record_key
    assert list(map(keys, parse_file(log, pure=True))) == list(map(keys, parse_file(log, templates=TemplateStore(files[0]))))


@needs_fastcore
def test_a_new_process_reads_with_saved_templates_as_the_pure_parser(tmp_path):
    """An unchanged evaluation value is stale (_emit drops it) whichever path made its name. The
    names were a set that final_name filled as Python read lines: a new process that took a block
    row's template from the file on a line read elsewhere (here out of any block) never had Python
    make `eval_samples`, so C kept the unchanged 240 of every later block. Now a name's prefix
    tells, in Python and in C."""
    row = "  eval_samples            =        240\n"
    block = "***** eval metrics *****\n  epoch                   =        {e}.0\n  eval_loss               =     2.{l}\n" + row + "\n"
    log = tmp_path / "train.log"
    log.write_text(f"step 1 done\n{row}" * 3 + "".join(block.format(e=i, l=1000 + 7 * i) for i in range(3)))
    env = {**os.environ, "TRAINBOARD_TEMPLATE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    runs = [subprocess.run([sys.executable, "-m", "parsing", str(log)], capture_output=True, text=True, check=True,
                           env={**env, **extra}).stdout
            for extra in ({}, {}, {"TRAINBOARD_PARSER_PURE": "1", "TRAINBOARD_TEMPLATE_CACHE": "off"})]
    assert list((tmp_path / "cache").glob("templates-*.json"))  # the first run saved what it learned
    first, again, pure = ([json.loads(line) for line in out.splitlines()] for out in runs)
    assert [list(r["metrics"]) for r in pure] == [["epoch", "eval_loss", "eval_samples"], ["epoch", "eval_loss"],
                                                  ["epoch", "eval_loss"]]
    assert first == pure and again == pure


# Run in a new process: the texts (a JSON file) read with the templates of a file, then by the pure
# parser; prints the indexes of the texts read otherwise.
_READ_ELSEWHERE = r"""
import json, sys
from parsing import StreamParser, TemplateStore, fastpath
texts, store = json.load(open(sys.argv[1], encoding="utf-8")), TemplateStore(sys.argv[2])
def read(text, pure):
    parser = StreamParser(pure=pure, templates=None if pure else store)
    return [list(map(repr, fastpath.record_key(r))) for r in parser.feed(text) + parser.finish()]
fast = [read(text, False) for text in texts]  # before Python has read a line of them
print(json.dumps([i for i, (text, got) in enumerate(zip(texts, fast)) if got != read(text, True)]))
"""


@needs_fastcore
def test_templates_learned_in_one_process_read_in_another_as_the_pure_parser(tmp_path):
    """What a process learns as it reads (names it made, body shapes, cached prefixes) must be
    nothing a template relies on: a new process takes them from the file before Python has read
    anything. The sample and test texts and a mixed log of their frameworks (runs cut anywhere: a
    block's rows without its head) learned in one process, read in another."""
    texts = CORPUS + [bench_log(tmp_path, 20_000)]
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    path = tmp_path / "templates.json"
    learn = ("import json, sys\nfrom parsing import StreamParser, TemplateStore\n"
             "store = TemplateStore(sys.argv[2])\n"
             "for text in json.load(open(sys.argv[1], encoding='utf-8')):\n"
             "    parser = StreamParser(templates=store); parser.feed(text); parser.finish()\n"
             "store.save()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for code in (learn, _READ_ELSEWHERE):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "texts.json"), str(path)],
                              capture_output=True, text=True, env=env, check=True)
    assert len(json.loads(path.read_text())) > 100
    assert json.loads(done.stdout) == []


def test_a_store_holds_at_most_max_held(monkeypatch):
    monkeypatch.setattr(templates, "MAX_HELD", 3)
    store = TemplateStore()
    specs = [(f"key {i}".encode(), 0, (), (), (), None, 1, None, None, 0) for i in range(5)]
    assert [store.put(s) is s for s in specs] == [True] * 5
    assert store.put(specs[0] + ()) is specs[0]  # an equal one: the one held
    assert len(store) == 3 and store.get(b"key 3") == [] and store.get(b"key 2") == [specs[2]]
