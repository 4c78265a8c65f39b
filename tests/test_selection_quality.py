"""tools/benchmarks/selection_quality.py on made-up run results (no training), and the plot
tools' grouping by method (learning-loss variants get lines of their own)."""
import json
import os
import os.path as osp
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

import selection_quality as bench  # noqa: E402
from al_runs import aggregate, find_runs  # noqa: E402

LABELS = [100, 200, 300]


def write_run(work_dir, name, seed, accuracy, rank_acc, strategy=None, method=None,
              config=None):
    """A finished run in ``work_dir/<name>/seed_<seed>`` as al_train.py writes it."""
    run_dir = osp.join(work_dir, name, f'seed_{seed}')
    os.makedirs(run_dir, exist_ok=True)
    strategy = strategy or name
    stages = [{'stage': i + 1, 'num_labeled': n, 'accuracy/top1': a, 'learnloss/rank_acc': r}
              for i, (n, a, r) in enumerate(zip(LABELS, accuracy, rank_acc))]
    with open(osp.join(run_dir, 'al_results.json'), 'w') as f:
        json.dump(dict(config=config or f'lenet5_mnist5k_{name}.py', strategy=strategy,
                       method=method or strategy, seed=seed, stages=stages), f)
    return run_dir


def test_auc_is_the_mean_accuracy_over_the_label_range():
    assert bench.curve_auc([100, 200, 300], [70., 80., 90.]) == pytest.approx(80.)
    # trapezoids: (10*(70+90)/2 + 20*(90+90)/2) / 30
    assert bench.curve_auc([0, 10, 30], [70., 90., 90.]) == pytest.approx((800 + 1800) / 30)
    assert bench.curve_auc([100], [55.]) == 55.


def test_mean_std_is_the_sample_std_over_finite_values():
    stat = bench.mean_std([1., 2., 3., float('nan')])
    assert stat == dict(mean=2., std=1., n=3)
    assert bench.mean_std([4.])['std'] == 0.
    assert bench.mean_std([])['n'] == 0


def make_runs(tmp_path):
    work = str(tmp_path / 'work')
    write_run(work, 'learnloss', 0, [70., 80., 90.], [0.6, 0.7, 0.8], strategy='learning_loss')
    write_run(work, 'learnloss', 1, [72., 84., 92.], [0.6, 0.8, 0.9], strategy='learning_loss')
    write_run(work, 'random', 0, [71., 79., 85.], [0.5, 0.5, 0.5])
    write_run(work, 'random', 1, [73., 81., 87.], [0.5, 0.5, 0.5])
    return work


def test_summary_and_tables_give_per_stage_auc_first_stage_and_rank_acc(tmp_path):
    work = make_runs(tmp_path)
    jobs = [bench.Job(m, 'cfg.py', s, work, 'data') for s in (0, 1)
            for m in ('learnloss', 'random')]
    assert all(job.status() == 'done' for job in jobs)
    summary = bench.summarize(bench.collect(jobs))
    ll = summary['learnloss']
    assert ll['num_labeled'] == LABELS
    assert ll['accuracy'][2] == dict(mean=91., std=pytest.approx(2 ** 0.5), n=2)
    assert ll['first_stage_accuracy']['mean'] == 71.
    assert ll['auc']['mean'] == pytest.approx((80. + 83.) / 2)  # seed AUCs 80 and 83
    assert ll['rank_acc'][1]['mean'] == pytest.approx(0.75)
    table = bench.markdown_tables(summary)
    assert '| learnloss | 71.00 ± 1.41 | 82.00 ± 2.83 | 91.00 ± 1.41 | 81.50 ± 2.12 |' in table
    assert '| random | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.500 ± 0.000 |' in table
    # per seed against random (same initial labels): first stage -1 / -1, AUC +1.5 / +2.5
    assert '| learnloss | 71.00 ± 1.41 | -1.00 ± 0.00 | 81.50 ± 2.12 | +2.00 ± 0.71 | ' \
        '91.00 ± 1.41 | 0.733 |' in table
    side = bench.side_by_side(summary).splitlines()
    assert side[0].split() == ['stage', '|', 'labels', '|', 'learnloss', 'acc', '|', 'learnloss',
                               'rank', '|', 'random', 'acc', '|', 'random', 'rank']
    assert [c.strip() for c in side[3].split('|')] == ['3', '300', '91.00', '0.850', '86.00',
                                                       '0.500']


def test_finished_runs_are_reused_and_started_ones_resumed(tmp_path, capsys):
    work = make_runs(tmp_path)
    started = osp.join(work, 'entropy', 'seed_0')
    os.makedirs(started)
    open(osp.join(started, 'al_state.json'), 'w').write('{}')
    done = bench.Job('random', 'cfg.py', 0, work, 'data')
    resumed = bench.Job('entropy', 'cfg.py', 0, work, 'data')
    new = bench.Job('coreset', 'cfg.py', 0, work, 'data')
    assert (done.status(), resumed.status(), new.status()) == ('done', 'started', 'new')
    assert '--resume' in resumed.command() and '--resume' not in new.command()
    assert bench.run_all([done]) == []  # nothing launched
    assert '1 runs: 1 finished earlier (reused), 0 to run' in capsys.readouterr().out


def test_report_only_tables_the_finished_runs_and_starts_none(tmp_path, capsys):
    work = make_runs(tmp_path)  # learnloss and random: seeds 0 and 1
    write_run(work, 'entropy', 0, [71., 85., 93.], [0.5, 0.5, 0.5])
    data = tmp_path / 'data'
    data.mkdir()
    for name in ('train.json', 'val.json'):
        (data / name).write_text('{}')
    out_dir = tmp_path / 'report'
    code = bench.main(['--data-root', str(data), '--work-dir', work, '--out-dir', str(out_dir),
                       '--methods', 'learnloss', 'random', 'entropy', 'coreset',
                       '--seeds', '0', '1', '--no-plots', '--report-only'])
    assert code == 0
    out = capsys.readouterr().out
    assert ('8 runs: 5 finished; not finished, left out: coreset seed 0, entropy seed 1, '
            'coreset seed 1') in out  # in the order the runs go: seed by seed
    assert not osp.exists(osp.join(work, 'coreset'))  # nothing was started
    assert ('Not every method has every seed: learnloss 0, 1; random 0, 1; entropy 0. Each '
            'difference to random is over the seeds both have.') in out
    results = json.load(open(out_dir / 'selection_quality_results.json'))
    assert list(results['methods']) == ['learnloss', 'random', 'entropy']
    # entropy's AUC minus random's on seed 0 alone: (78+89)/2 - (75+82)/2
    assert results['minus_random']['entropy']['auc'] == dict(mean=pytest.approx(5.), std=0., n=1)


def test_a_missing_dataset_names_the_command_that_creates_it(tmp_path, capsys):
    code = bench.main(['--data-root', str(tmp_path / 'nowhere'), '--work-dir',
                       str(tmp_path / 'work')])
    assert code == 2
    err = capsys.readouterr().err
    assert 'no MNIST 5k dataset (train.json, val.json not found)' in err
    assert f'python tools/make_mnist5k.py --out {tmp_path / "nowhere"}' in err


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(bench.BenchmarkError, match='unknown method .*learnloss, random'):
        bench.resolve_methods(bench.TASKS['classification'], ['nope'])
    task = bench.TASKS['classification']
    assert list(bench.resolve_methods(task, ['all'])) == list(task.methods)
    for config in bench.resolve_methods(task, ['all']).values():
        assert osp.isfile(config)


def test_plot_tools_give_variants_of_one_strategy_their_own_line(tmp_path):
    work = str(tmp_path / 'work')
    write_run(work, 'learnloss', 0, [70., 80., 90.], [0.6, 0.7, 0.8], strategy='learning_loss',
              config='lenet5_mnist5k_learnloss.py')
    write_run(work, 'learnloss_allpairs', 0, [71., 81., 91.], [0.7, 0.8, 0.9],
              strategy='learning_loss', method='learning_loss_allpairs',
              config='lenet5_mnist5k_learnloss_allpairs.py')
    runs = find_runs([work])
    assert {run.task for run in runs} == {'lenet5_mnist5k'}
    curves = aggregate(runs, 'accuracy/top1')
    assert set(curves) == {'learning_loss', 'learning_loss_allpairs'}
    assert curves['learning_loss_allpairs'].mean == [71., 81., 91.]


def test_detection_task_points_every_config_at_the_digit_scenes(tmp_path):
    task = bench.TASKS['detection']
    configs = bench.resolve_methods(task, ['all'])
    assert list(configs) == ['learnloss', 'random', 'entropy', 'coreset', 'learnloss_combined',
                             'learnloss_refit', 'learnloss_headtaps', 'learnloss_scoretaps',
                             'learnloss_scorefit', 'learnloss_scorefit_instances',
                             'oracle_loss', 'oracle_loss_instances']
    assert all(osp.isfile(c) for c in configs.values())
    job = bench.Job('random', configs['random'], 0, str(tmp_path), 'data/scenes',
                    task.data_options, ['train_cfg.num_stages=3'])
    options = job.command()[job.command().index('--cfg-options') + 1:]
    voc = osp.abspath('data/scenes/VOCdevkit') + '/'
    assert options == [
        f'train_dataloader.dataset.dataset.datasets.0.data_root={voc}',
        f'train_dataloader.dataset.dataset.datasets.1.data_root={voc}',
        f'val_dataloader.dataset.data_root={voc}', f'test_dataloader.dataset.data_root={voc}',
        'train_cfg.num_stages=3']
    with pytest.raises(bench.BenchmarkError, match='no digit scenes dataset') as error:
        bench.check_dataset(task, str(tmp_path))
    assert f'python tools/make_digit_scenes.py --out {tmp_path}' in str(error.value)


def test_detection_tables_count_the_boxes_of_each_stage_labeled_images(tmp_path):
    """The boxes of the images a run labeled, read from its state (the loop's own ALState) and
    the VOC annotations, per stage and mean ± std over seeds."""
    from mmlearnloss.active import ALState
    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.testing.voc import make_voc
    root = str(tmp_path / 'scenes')
    voc = make_voc(root, n07=4, n12=4, n_test=1) + '/'
    pool = PoolSplitter(dict(type='ConcatDataset', datasets=[
        dict(type='VOCDataset', data_root=voc, ann_file=f'{year}/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root=f'{year}/'), pipeline=[])
        for year in ('VOC2007', 'VOC2012')]))
    ids = pool.sample_ids()
    boxes = {}
    for i in ids:
        year, name = i.split('/')
        xml = osp.join(voc, year, 'Annotations', f'{name}.xml')
        boxes[i] = open(xml).read().count('<object>')
    work = str(tmp_path / 'work')
    labeled = {0: [ids[:1], ids[:1] + ids[4:6], ids[:1] + ids[4:6] + ids[1:3]],
               1: [ids[7:8], ids[7:8] + ids[2:4], ids[7:8] + ids[2:4] + ids[5:7]]}
    for seed, stages in labeled.items():
        run_dir = write_run(work, 'random', seed, [10., 20., 30.], [0.5] * 3,
                            config='ssd_digits_random.py')
        ALState(config_hash='0' * 64, seed=seed, stage=3, labeled=stages[-1],
                stages=[dict(stage=i, num_labeled=len(s), status='selected')
                        for i, s in enumerate(stages)]).save(osp.join(run_dir, 'al_state.json'))
    task = bench.TASKS['detection']
    expected = [[sum(boxes[i] for i in stages[k]) for stages in labeled.values()]
                for k in range(3)]
    assert expected[0] != expected[1] and min(expected[0]) > 0
    runs = bench.collect([bench.Job('random', 'cfg.py', s, work, root) for s in (0, 1)])
    summary = bench.summarize(runs, task, root)
    assert summary['random']['per_seed']['1']['annotations'] == [e[1] for e in expected]
    assert [s['mean'] for s in summary['random']['annotations']] == \
        [sum(e) / 2 for e in expected]
    table = bench.markdown_tables(summary, task)
    assert 'Boxes in the labeled images' in table
    row = [line for line in table.splitlines() if line.startswith('| random |')][-1]
    assert row.split(' | ')[1].startswith(f'{sum(expected[0]) / 2:.0f} ± ')
    # Without the data root (or for classification) there is nothing to count.
    assert 'annotations' not in bench.summarize(runs, task)['random']
    # A data root that is not the run's dataset is named.
    make_voc(str(tmp_path / 'other'), n07=1, n12=1, n_test=1)
    with pytest.raises(bench.AnalysisError, match='is .*other the dataset the run used'):
        bench.summarize(runs, task, str(tmp_path / 'other'))
