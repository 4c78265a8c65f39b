"""The dry run before the first stage: a config that cannot work fails in a minute, naming the
part, and leaves no run behind; one that works trains exactly as without the dry run."""
import json

from conftest import running_alongside
from test_al_train_flags import command, cwd, run  # noqa: F401  (the mini CIFAR run)

TWO_STAGES = ('train_cfg.num_stages=2', 'train_cfg.query_size=10', 'train_cfg.subset_size=None')


def test_a_training_step_that_fails_stops_the_run_before_any_epoch_and_leaves_no_run(
        cwd, tmp_path):  # noqa: F811
    # Five classes for CIFAR's ten labels: the loss fails on the first batch.
    result = run(cwd, tmp_path, options=('model.architecture.head.num_classes=5', ))
    assert result.returncode != 0
    assert ('Dry run before the first stage: the training step on one labeled batch failed'
            in result.stderr)
    assert 'Epoch(train)' not in result.stdout
    assert not (tmp_path / 'al_state.json').exists()
    assert not (tmp_path / 'initial_weights.pth').exists()
    assert not list((tmp_path / 'splits').glob('stage_0_labeled*'))
    fixed = run(cwd, tmp_path)  # the same command, without --resume
    assert fixed.returncode == 0, fixed.stderr[-3000:]


def test_the_dry_run_changes_no_weight_no_selection_and_no_score(cwd, tmp_path):  # noqa: F811
    # The run without the dry run goes alongside the one with it: neither depends on the other.
    with running_alongside(command(tmp_path / 'unchecked',
                                   options=TWO_STAGES + ('train_cfg.dry_run=False', )),
                           cwd, tmp_path / 'unchecked.log', timeout=600) as unchecked:
        checked = run(cwd, tmp_path / 'checked', options=TWO_STAGES)
    assert checked.returncode == unchecked.returncode == 0, (
        checked.stderr[-3000:] + (tmp_path / 'unchecked.log').read_text()[-3000:])
    assert 'Dry run before the first stage: a training step, a validation prediction and ' \
           'scoring work.' in checked.stdout
    states = [json.loads((tmp_path / name / 'al_state.json').read_text())
              for name in ('checked', 'unchecked')]
    assert states[0]['labeled'] == states[1]['labeled']
    assert [s['scores'] for s in states[0]['stages']] == [s['scores'] for s in states[1]['stages']]
    assert states[0]['stages'][1]['metrics'] == states[1]['stages'][1]['metrics']
