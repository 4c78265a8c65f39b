"""The plot tools in tools/analysis: on synthetic run dirs, on bad input, on a real short run."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import plot_al_curves  # noqa: E402
import plot_loss_scatter  # noqa: E402
import plot_rank_acc  # noqa: E402
from al_runs import AnalysisError, find_runs  # noqa: E402

CONFIGS = {'learning_loss': 'resnet18_cifar10_learnloss_mini.py',
           'random': 'resnet18_cifar10_random_mini.py'}


def write_run(run_dir, strategy, seed, accuracies, rank_accs=None, labels=(100, 200, 300),
              config=None, metric='accuracy/top1'):
    """An al_results.json as tools/al_train.py writes it."""
    stages = []
    for i, (x, acc) in enumerate(zip(labels, accuracies)):
        stage = {'stage': i + 1, 'num_labeled': x, metric: acc}
        if rank_accs is not None:
            stage.update({'learnloss/rank_acc': rank_accs[i], 'learnloss/pearson': 0.1,
                          'learnloss/spearman': 0.1})
        stages.append(stage)
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, 'al_results.json'), 'w') as f:
        json.dump({'config': config or CONFIGS[strategy], 'strategy': strategy, 'seed': seed,
                   'stages': stages}, f)
    return str(run_dir)


@pytest.fixture
def two_strategies(tmp_path):
    """tmp/{learnloss,random}/seed_{0,1}: the layout of al_train.py --seeds, one dir each."""
    write_run(tmp_path / 'learnloss' / 'seed_0', 'learning_loss', 0, [20., 40., 60.],
              [0.6, 0.7, 0.8])
    write_run(tmp_path / 'learnloss' / 'seed_1', 'learning_loss', 1, [22., 44., 66.],
              [0.8, 0.7, 0.9])
    write_run(tmp_path / 'random' / 'seed_0', 'random', 0, [20., 30., 40.], [0.5, 0.5, 0.5])
    write_run(tmp_path / 'random' / 'seed_1', 'random', 1, [24., 34., 50.], [0.4, 0.6, 0.5])
    return tmp_path


def lines_by_strategy(fig):
    return {line.get_gid(): line for line in fig.axes[0].get_lines() if line.get_gid()}


def band(fig, strategy):
    """(x, lower, upper) of a strategy's fill_between band."""
    (collection,) = [c for c in fig.axes[0].collections if c.get_gid() == f'{strategy}:band']
    vertices = collection.get_paths()[0].vertices
    xs = np.unique(vertices[:, 0])
    return (xs, np.array([vertices[vertices[:, 0] == x, 1].min() for x in xs]),
            np.array([vertices[vertices[:, 0] == x, 1].max() for x in xs]))


# ----------------------------------------------------------------------------- learning curves
def test_al_curves_draw_one_line_per_strategy_at_the_mean_over_seeds(two_strategies):
    fig, curves, metric = plot_al_curves.plot_al_curves(find_runs([str(two_strategies)]))
    assert metric == 'accuracy/top1'
    lines = lines_by_strategy(fig)
    assert list(lines) == ['learning_loss', 'random']
    np.testing.assert_allclose(lines['learning_loss'].get_xdata(), [100, 200, 300])
    np.testing.assert_allclose(lines['learning_loss'].get_ydata(), [21., 42., 63.])
    np.testing.assert_allclose(lines['random'].get_ydata(), [22., 32., 45.])
    assert curves['random'].trials == [2, 2, 2]


def test_al_curves_band_is_mean_plus_minus_the_sample_std(two_strategies):
    fig, _, _ = plot_al_curves.plot_al_curves(find_runs([str(two_strategies)]))
    xs, lower, upper = band(fig, 'random')
    std = np.std([[20., 30., 40.], [24., 34., 50.]], axis=0, ddof=1)  # [2.83, 2.83, 7.07]
    np.testing.assert_allclose(xs, [100, 200, 300])
    np.testing.assert_allclose(lower, np.array([22., 32., 45.]) - std)
    np.testing.assert_allclose(upper, np.array([22., 32., 45.]) + std)


def test_al_curves_main_prints_the_table_and_writes_the_png_at_the_size_asked(
        two_strategies, capsys):
    out = two_strategies / 'curves.png'
    plot_al_curves.main([str(two_strategies / 'learnloss'), str(two_strategies / 'random'),
                         '--out', str(out), '--size', '640', '480'])
    assert Image.open(out).size == (640, 480)
    table = capsys.readouterr().out
    assert 'learning_loss' in table and 'random' in table
    assert '63.0000 ± 4.2426 (n=2)' in table  # learning loss at 300 labels: 60 and 66


def test_al_curves_default_out_is_in_the_first_run_dir(two_strategies):
    plot_al_curves.main([str(two_strategies)])
    assert Image.open(two_strategies / 'al_curves.png').size == (800, 600)


def test_al_curves_metric_option_picks_another_key(two_strategies):
    fig, _, metric = plot_al_curves.plot_al_curves(find_runs([str(two_strategies)]),
                                                   'learnloss/rank_acc')
    assert metric == 'learnloss/rank_acc'
    np.testing.assert_allclose(lines_by_strategy(fig)['learning_loss'].get_ydata(),
                               [0.7, 0.7, 0.85])


def test_a_run_dir_given_twice_counts_once(two_strategies):
    runs = find_runs([str(two_strategies / 'random'), str(two_strategies / 'random' / 'seed_0')])
    assert sorted(run.seed for run in runs) == [0, 1]


# ------------------------------------------------------------------------------ ranking accuracy
def test_rank_acc_is_plotted_per_stage_with_mean_and_std_over_seeds(two_strategies):
    fig, curves = plot_rank_acc.plot_rank_acc(find_runs([str(two_strategies)]))
    line = lines_by_strategy(fig)['learning_loss']
    np.testing.assert_allclose(line.get_xdata(), [100, 200, 300])
    np.testing.assert_allclose(line.get_ydata(), [0.7, 0.7, 0.85])
    np.testing.assert_allclose(curves['learning_loss'].std,
                               np.std([[0.6, 0.7, 0.8], [0.8, 0.7, 0.9]], axis=0, ddof=1))
    assert fig.axes[0].get_ylabel().startswith('learnloss/rank_acc')


def test_rank_acc_leaves_out_runs_without_the_metric(tmp_path):
    write_run(tmp_path / 'a', 'learning_loss', 0, [20., 40.], [0.6, 0.7], labels=(100, 200))
    write_run(tmp_path / 'b', 'random', 0, [20., 30.], None, labels=(100, 200))
    fig, curves = plot_rank_acc.plot_rank_acc(find_runs([str(tmp_path)]))
    assert list(curves) == ['learning_loss']


def test_rank_acc_without_the_metric_anywhere_fails_naming_the_evaluator(tmp_path):
    write_run(tmp_path, 'random', 0, [20., 30.], None, labels=(100, 200))
    with pytest.raises(SystemExit, match='learnloss/rank_acc.*LossRankingMetric'):
        plot_rank_acc.main([str(tmp_path)])


# ---------------------------------------------------------------------------------- scatter
def write_val_losses(run_dir, stage_file, pred, target):
    os.makedirs(osp.join(run_dir, 'val_losses'), exist_ok=True)
    with open(osp.join(run_dir, 'val_losses', f'stage_{stage_file}.json'), 'w') as f:
        json.dump({'pred_loss': list(pred), 'target_loss': list(target)}, f)


def scatter_points(fig):
    """{label: (N, 2) points} of the scatter's two collections."""
    return {c.get_label(): np.asarray(c.get_offsets()) for c in fig.axes[0].collections}


def test_scatter_highlights_the_top_fraction_by_predicted_loss():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=37), rng.normal(size=37)
    fig = plot_loss_scatter.plot_loss_scatter(pred, target, fraction=0.1)
    points = scatter_points(fig)
    top = points['top 10% by predicted loss (4)']  # round(0.1 * 37) = 4
    assert len(top) == 4 and len(points['other samples (33)']) == 33
    assert sorted(top[:, 0]) == sorted(np.sort(pred)[-4:])
    assert top[:, 0].min() > points['other samples (33)'][:, 0].max()
    # each highlighted point keeps its own real loss
    np.testing.assert_allclose(top[:, 1], target[np.argsort(-pred)[:4]])


def test_scatter_title_gives_pearson_and_spearman():
    pred = np.array([1., 2., 3., 4.])
    target = np.array([1., 3., 2., 5.])
    fig = plot_loss_scatter.plot_loss_scatter(pred, target, fraction=0.5)
    r = np.corrcoef(pred, target)[0, 1]
    assert f'Pearson r = {r:.3f}' in fig.axes[0].get_title()
    assert 'Spearman ρ = 0.800' in fig.axes[0].get_title()  # ranks 0 1 2 3 vs 0 2 1 3


def test_scatter_defaults_to_the_last_stage_counted_from_one(tmp_path, capsys):
    write_val_losses(tmp_path, 0, [1., 2.], [1., 2.])
    write_val_losses(tmp_path, 1, [1., 2., 3., 4.], [4., 3., 2., 1.])
    plot_loss_scatter.main([str(tmp_path), '--fraction', '0.5'])
    assert 'stage 2: N = 4, Pearson r = -1.0000' in capsys.readouterr().out
    assert osp.isfile(tmp_path / 'loss_scatter_stage_2.png')
    stage, pred, _ = plot_loss_scatter.load_val_losses(str(tmp_path), 1)
    assert stage == 1 and list(pred) == [1., 2.]


def test_scatter_drops_samples_without_a_real_loss(tmp_path):
    write_val_losses(tmp_path, 0, [1., 2., 3.], [1., float('nan'), 3.])
    _, pred, target = plot_loss_scatter.load_val_losses(str(tmp_path))
    assert list(pred) == [1., 3.] and list(target) == [1., 3.]


def test_scatter_without_val_losses_fails_saying_who_writes_them(tmp_path):
    write_run(tmp_path, 'random', 0, [20.], labels=(100,))
    with pytest.raises(SystemExit, match='no val_losses/stage_<k>.json.*LossRankingMetric'):
        plot_loss_scatter.main([str(tmp_path)])


def test_scatter_of_an_unknown_stage_lists_the_stages(tmp_path):
    write_val_losses(tmp_path, 0, [1., 2.], [1., 2.])
    with pytest.raises(SystemExit, match=r'no losses for stage 5.*: 1\.$'):
        plot_loss_scatter.main([str(tmp_path), '--stage', '5'])


def test_scatter_of_a_dir_of_several_runs_asks_for_one(two_strategies):
    with pytest.raises(SystemExit, match='holds 2 runs.*pass one of them'):
        plot_loss_scatter.main([str(two_strategies / 'random')])


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize('tool', [plot_al_curves, plot_rank_acc, plot_loss_scatter])
def test_an_empty_dir_fails_naming_it_and_what_was_expected(tool, tmp_path):
    with pytest.raises(SystemExit) as error:
        tool.main([str(tmp_path)])
    message = str(error.value)
    assert str(tmp_path) in message and 'al_results.json' in message
    assert 'seed_*/' in message and 'tools/al_train.py' in message
    assert '\n' not in message


def test_an_unfinished_run_is_named_as_such(tmp_path):
    (tmp_path / 'seed_0').mkdir()
    (tmp_path / 'seed_0' / 'al_state.json').write_text('{}')
    with pytest.raises(SystemExit, match='al_state.json without al_results.json.*--resume'):
        plot_al_curves.main([str(tmp_path)])


def test_a_missing_dir_fails_cleanly(tmp_path):
    with pytest.raises(SystemExit, match='not a directory'):
        plot_al_curves.main([str(tmp_path / 'nope')])


def test_the_functions_raise_analysis_error_not_system_exit(tmp_path):
    with pytest.raises(AnalysisError, match='no al_results.json'):
        find_runs([str(tmp_path)])


def test_runs_of_different_tasks_fail_listing_them(tmp_path):
    write_run(tmp_path / 'cifar', 'learning_loss', 0, [20.])
    write_run(tmp_path / 'voc', 'learning_loss', 0, [20.], config='ssd_voc_learnloss_mini.py',
              metric='pascal_voc/mAP')
    with pytest.raises(SystemExit) as error:
        plot_al_curves.main([str(tmp_path)])
    message = str(error.value)
    assert 'runs of 2 tasks are mixed' in message
    assert "'resnet18_cifar10_mini' from resnet18_cifar10_learnloss_mini.py" in message
    assert "'ssd_voc_mini' from ssd_voc_learnloss_mini.py" in message


def test_runs_with_different_metrics_fail_listing_them(tmp_path):
    write_run(tmp_path / 'a', 'learning_loss', 0, [20.], config='exp.py')
    write_run(tmp_path / 'b', 'random', 0, [20.], config='exp.py', metric='PCKh')
    with pytest.raises(SystemExit, match=r'different metrics are mixed: \[accuracy/top1\] in .*a;'
                                         r' \[PCKh\] in .*b'):
        plot_al_curves.main([str(tmp_path)])


def test_an_unknown_metric_fails_listing_the_available_ones(two_strategies):
    with pytest.raises(SystemExit, match="unknown metric 'mAP'; available: accuracy/top1, "
                                         'learnloss/rank_acc, learnloss/pearson'):
        plot_al_curves.main([str(two_strategies), '--metric', 'mAP'])


def test_the_older_list_format_asks_for_a_rerun(tmp_path):
    (tmp_path / 'al_results.json').write_text('[{"stage": 1, "num_labeled": 10}]')
    with pytest.raises(SystemExit, match='is a list of stages.*re-run'):
        plot_al_curves.main([str(tmp_path)])


def test_an_error_from_the_command_line_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'analysis', 'plot_al_curves.py'), str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f'plot_al_curves.py: error: {tmp_path}: no al_results.json found in it or below; expected '
        f'a run dir of tools/al_train.py (with al_results.json), a dir of seed_*/ runs '
        f'(al_train.py --seeds ...), or a dir of such dirs.']


# ------------------------------------------------------------------------------- a real run
REAL_OPTIONS = ('train_cfg.num_stages=2', 'train_cfg.initial_size=20', 'train_cfg.query_size=10',
                'train_cfg.subset_size=40', 'train_cfg.max_epochs=1',
                'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10')


@pytest.fixture(scope='module')
def real_run(tmp_path_factory):
    """Two seeds of the mini CIFAR-10 learning-loss config, 2 short stages."""
    from mmlearnloss.testing.cifar import make_cifar10

    root = tmp_path_factory.mktemp('plots')
    make_cifar10(str(root / 'data' / 'mini'), n_train=100, n_test=20, seed=0)
    work_dir = root / 'work'
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'),
         osp.join(ROOT, 'configs', 'mini', 'resnet18_cifar10_learnloss_mini.py'),
         '--work-dir', str(work_dir), '--seeds', '0', '1', '--cfg-options', *REAL_OPTIONS],
        cwd=root, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return work_dir


def test_a_real_run_is_plotted_with_its_labels_and_metrics(real_run):
    results = [json.loads((real_run / f'seed_{s}' / 'al_results.json').read_text())
               for s in (0, 1)]
    out = real_run / 'curves.png'
    plot_al_curves.main([str(real_run), '--out', str(out), '--size', '600', '400'])
    with Image.open(out) as image:
        assert image.format == 'PNG' and image.size == (600, 400)

    fig, _, metric = plot_al_curves.plot_al_curves(find_runs([str(real_run)]))
    assert metric == 'accuracy/top1'
    line = lines_by_strategy(fig)['learning_loss']
    assert list(line.get_xdata()) == [20, 30]
    assert [s['num_labeled'] for s in results[0]['stages']] == [20, 30]
    expected = np.mean([[s[metric] for s in r['stages']] for r in results], axis=0)
    np.testing.assert_allclose(line.get_ydata(), expected)

    fig, curves = plot_rank_acc.plot_rank_acc(find_runs([str(real_run)]))
    expected = np.mean([[s['learnloss/rank_acc'] for s in r['stages']] for r in results], axis=0)
    np.testing.assert_allclose(lines_by_strategy(fig)['learning_loss'].get_ydata(), expected)


def test_a_real_run_scatter_matches_the_logged_correlation(real_run):
    run_dir = real_run / 'seed_0'
    stage, pred, target = plot_loss_scatter.load_val_losses(str(run_dir))
    assert stage == 2 and len(pred) == 20  # the last of 2 stages; the 20 test images
    logged = json.loads((run_dir / 'al_results.json').read_text())['stages'][-1]
    assert plot_loss_scatter.pearson(pred, target) == pytest.approx(
        logged['learnloss/pearson'], abs=1e-4)
    out = real_run / 'scatter.png'
    plot_loss_scatter.main([str(run_dir), '--fraction', '0.25', '--out', str(out)])
    assert Image.open(out).size == (800, 600)
    fig = plot_loss_scatter.plot_loss_scatter(pred, target, fraction=0.25)
    assert len(scatter_points(fig)['top 25% by predicted loss (5)']) == 5
