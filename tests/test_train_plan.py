"""Resolving a run before training: new, resumed and extended runs, and what each refuses (no training)."""

import pytest
from conftest import TINY_SPEC

import bcn  # noqa: F401
from bcn.errors import BcnError


def _saved_run(run_dir, finished=None, backup=True):
    """A run folder as training leaves it: config.json, model.h5 and (with `backup`) a checkpoint."""
    from bcn.run_config import write_run_config
    from bcn.train.trainer import Recipe

    run_dir.mkdir()
    config = {
        "spec": TINY_SPEC,
        "input_size": 64,
        "float_twin": False,
        "seed": 3,
        "recipe": Recipe(epochs=4, batch_size=8).to_dict(),
    }
    write_run_config(run_dir, {**config, **({"finished_epochs": finished} if finished else {})})
    (run_dir / "model.h5").write_bytes(b"")
    if backup:
        (run_dir / "backup" / "chief").mkdir(parents=True)
        (run_dir / "backup" / "chief" / "checkpoint").write_text("")


def test_a_new_run_takes_the_arguments_over_the_recipe(synth_voc, tmp_path):
    from bcn.train.trainer import Recipe, plan_run

    recipe = Recipe()
    plan = plan_run(TINY_SPEC, synth_voc, tmp_path / "run", input_size=96, epochs=3, batch_size=4, recipe=recipe)
    assert plan.kind == "new" and plan.seed == 0 and plan.input_size == 96
    assert plan.spec_text == TINY_SPEC.replace("qn(64)", "qn(96)")
    assert (plan.recipe.epochs, plan.recipe.batch_size, plan.recipe.lr) == (3, 4, 1e-3)
    assert recipe.epochs == 200  # the caller's recipe is left as it was
    assert plan.class_names == (synth_voc / "classes.txt").read_text().split()
    assert (plan.training_split, plan.eval_split) == ("trainval", "test")
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_takes_its_saved_spec_seed_and_recipe(synth_voc, tmp_path):
    from bcn.train.trainer import plan_run

    _saved_run(tmp_path / "run")
    plan = plan_run(None, synth_voc, tmp_path / "run", resume=True, seed=9)
    assert plan.kind == "resumed" and plan.arch == TINY_SPEC and plan.input_size == 64 and plan.seed == 3
    assert (plan.recipe.epochs, plan.recipe.batch_size) == (4, 8)


def test_a_finished_run_is_extended_only_with_more_epochs(synth_voc, tmp_path):
    from bcn.train.trainer import plan_run

    _saved_run(tmp_path / "run", finished=4)
    with pytest.raises(BcnError, match=r"run is finished \(4 of 4 epochs\)"):
        plan_run(None, synth_voc, tmp_path / "run", resume=True)
    assert plan_run(None, synth_voc, tmp_path / "run", resume=True, epochs=6).kind == "extended"
    with pytest.raises(BcnError, match="finished after 4 epochs"):
        plan_run(TINY_SPEC, synth_voc, tmp_path / "run", epochs=6)


@pytest.mark.parametrize(
    "saved, arch, kwargs, message",
    [
        (False, None, {}, "no architecture given"),
        (False, TINY_SPEC, {"lr": 0}, "lr must be positive, got 0"),
        (False, TINY_SPEC, {"lr": float("nan")}, "lr must be a finite number, got nan"),
        (False, TINY_SPEC, {"lr": float("inf")}, "lr must be a finite number, got inf"),
        (False, TINY_SPEC, {"lr": -1e-3}, "lr must be positive, got -0.001"),
        (False, TINY_SPEC, {"resume": True}, "nothing to resume"),
        (True, "qn(64) qn([1x32, 1x64]) tp(2)([32]) h(16)", {"resume": True}, "the run was started with"),
        (True, None, {"resume": True, "input_size": 128}, "the run was started at input size 64, not 128"),
        (True, None, {"resume": True, "float_twin": True}, "the run trains the binary model, not its float twin"),
    ],
)
def test_mistakes_fail_before_anything_is_built(synth_voc, tmp_path, saved, arch, kwargs, message):
    from bcn.train.trainer import plan_run

    if saved:
        _saved_run(tmp_path / "run")
    with pytest.raises(BcnError, match=message):
        plan_run(arch, synth_voc, tmp_path / "run", **kwargs)


def test_a_run_without_its_backup_is_not_resumed_from_epoch_one(synth_voc, tmp_path):
    from bcn.train.trainer import plan_run

    _saved_run(tmp_path / "run", backup=False)
    with pytest.raises(BcnError, match="would start again from epoch 1"):
        plan_run(None, synth_voc, tmp_path / "run", resume=True)


def test_a_learning_rate_that_is_no_number_is_a_type_error(synth_voc, tmp_path):
    from bcn.train.trainer import plan_run

    with pytest.raises(TypeError, match="lr must be a number, not str"):
        plan_run(TINY_SPEC, synth_voc, tmp_path / "run", lr="1e-3")
