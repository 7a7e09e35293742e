"""Run settings: profiles, overrides that take effect or fail, the corpus allow-list, retries."""

from __future__ import annotations

import pytest

from flows.plan import plan_run
from flows.profiles import PROFILES, parse_overrides, resolve
from lightrnn.errors import ConfigError
from storage.errors import IntegrityError, StoreConnectionError
from tasks import names
from tasks.corpus import ROOTS_ENV, check_allowed
from tasks.refs import Ref
from tasks.store_task import is_transient


def test_profiles_are_valid_and_derived_ones_differ_only_where_they_say():
    for name, profile in PROFILES.items():
        assert profile.settings.profile == name
    medium, large = PROFILES["gpu-medium"].settings, PROFILES["gpu-large"].settings
    assert large.train.max_steps == 100_000 and medium.train.max_steps == 60_000
    assert large.train.lr == medium.train.lr and large.model.hidden_dim == 1500


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["train.lr=NaN"], r"train.lr=nan: must be a finite number"),
        (["train.clip=NaN"], r"train.clip=nan: must be a finite number"),
        (["train.max_steps=2.5"], r"train.max_steps=2.5: must be an integer"),
        (["model.hidden_dim=big"], r"model.hidden_dim='big': must be an integer"),
        (["corpus.workers=0"], r"workers=0: must be at least 1"),
        (["train.learning_rate=1"], r"train has no field 'learning_rate'; fields: batch_size"),
        (["optimizer.lr=1"], r"unknown section 'optimizer'"),
        (["pipeline.max_rounds=0"], r"max_rounds=0: must be at least 1"),
        (["train.nproc=2"], r"train has no field 'nproc' \(it is launch\.nproc\)"),
        (["launch.nnodes=2"], r"launch\.nnodes=2 needs launch\.rdzv_endpoint=HOST:PORT"),
        (["model.vocab_size=5000"], r"model\.vocab_size=5000: the vocabulary size comes from"),
        (["model.shortlist=-1"], r"shortlist=-1: must be 0 or more"),
        (["model.tie=true", "model.hidden_dim=64"], r"tie=True needs embed_dim == hidden_dim"),
        (["allocate.method=best"], r"method='best': choose one of auto, exact"),
        (["allocate.options.tol=0.5"], r"method 'auto' has no option 'tol'; its options: exact_w"),
        (["allocate.keep_margin.x=1"], r"allocate\.keep_margin is not a mapping"),
    ],
)
def test_every_override_is_type_checked_and_finite(items, message):
    with pytest.raises(ConfigError, match=message):
        resolve("demo", parse_overrides(items))


def test_speed_only_corpus_overrides_take_effect_without_renaming_the_corpus():
    base = resolve("demo")
    fast = resolve("demo", parse_overrides(["corpus.workers=1", "corpus.block_bytes=4096"]))
    assert fast.corpus.workers == 1 and fast.corpus.block_bytes == 4096  # reach the task
    assert fast.corpus.output_settings() == base.corpus.output_settings()  # same corpus name
    assert fast.results() == base.results()


def test_the_model_section_is_the_library_config_completed_by_the_corpus():
    settings = resolve("demo", parse_overrides(["model.n_rows=50", "model.n_cols=50"]))
    config = settings.model.for_vocab(2_400)  # 2,000 shortlist words + 400 in the table
    assert (config.vocab_size, config.n_rows, config.n_cols) == (2_400, 50, 50)
    assert resolve("demo").model.for_vocab(2_400).n_rows == 20  # automatic: 20 x 20
    with pytest.raises(ConfigError, match=r"shortlist=2000: must be in \[0, 1998\]"):
        settings.model.for_vocab(2_000)
    with pytest.raises(ConfigError, match="a 50 x 50 table cannot hold 2600 words"):
        settings.model.for_vocab(4_600)


def test_method_options_and_launch_settings_reach_their_configs():
    settings = resolve(
        "tiny",
        parse_overrides(
            [
                "allocate.method=sparse",
                'allocate.options={"candidate_rows": 9}',  # a whole mapping, then one entry
                "allocate.options.candidates=64",
                "launch.nproc=2",
            ]
        ),
    )
    options = {"candidate_rows": 9, "candidates": 64}
    assert (settings.allocate.method, settings.allocate.options) == ("sparse", options)
    assert settings.allocate.method_options().tol == 1e-9  # the rest: the method's defaults
    assert settings.launch.processes == 2
    base = resolve("tiny")
    assert resolve("tiny", {"launch.nproc": 8}).results() == base.results()  # same run
    assert resolve("tiny", {"allocate.method": "exact"}).results() != base.results()


def test_the_run_key_names_the_package_version():
    table = Ref("tables/t", 1)
    results = resolve("tiny").results()
    assert names.run_key("c", results, table, "0.2.0") != names.run_key(
        "c", results, table, "0.3.0"
    )
    assert names.run_key("c", results, table, "0.2.0") == names.run_key(
        "c", results, table, "0.2.0"
    )


def test_corpus_roots_from_the_environment_and_the_settings(tmp_path, monkeypatch):
    inside, outside = tmp_path / "corpora" / "ptb", tmp_path / "elsewhere"
    monkeypatch.setenv(ROOTS_ENV, f"{tmp_path / 'corpora'}, s3://bucket/corpora")
    check_allowed([str(inside / "train.txt"), "s3://bucket/corpora/x/train.txt"])
    with pytest.raises(ConfigError, match=r"outside the corpus roots allowed by \$LIGHTRNN_CORPUS"):
        check_allowed([str(outside / "train.txt")])
    with pytest.raises(ConfigError, match="outside"):  # no climbing out with ..
        check_allowed([str(inside / ".." / ".." / "elsewhere" / "train.txt")])
    with pytest.raises(ConfigError, match="outside"):
        check_allowed(["s3://bucket/corpora-evil/train.txt"])
    with pytest.raises(ConfigError, match=r"allowed by pipeline\.corpus_roots"):  # narrows more
        check_allowed([str(inside / "train.txt")], [str(tmp_path / "corpora" / "wt2")])
    monkeypatch.delenv(ROOTS_ENV)
    check_allowed([str(outside / "train.txt")])  # no roots: anywhere


def test_a_deployment_cannot_read_a_corpus_outside_the_roots(tmp_path, monkeypatch):
    from pipeline_helpers import wikitext_slice

    corpus = wikitext_slice(tmp_path / "corpus", 20, 5)
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "allowed"))
    with pytest.raises(ConfigError, match="outside the corpus roots"):
        plan_run(str(corpus), f"file://{tmp_path}/store", "tiny", None, None)
    assert not (tmp_path / "store" / "refs").exists()


def test_only_transient_failures_are_retried():
    class Flaky(StoreConnectionError):
        transient = True

    assert is_transient(Flaky("503 Slow Down")) and is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert not is_transient(IntegrityError("blob damaged"))
    assert not is_transient(ConfigError("bad lr"))
    assert not is_transient(RuntimeError("CUDA out of memory"))
    assert not is_transient(MemoryError())
    assert not is_transient(TypeError("a bug"))
