"""tools/make_digit_scenes.py: scenes of real MNIST digits as a VOC dataset that mmdet reads.

One tiny dataset (6 pool and 3 test images) is written per module and read back with mmdet's
own ``VOCDataset``, built through mmdet's registry as its ``ssd300_voc0712`` config builds it.
"""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

import make_digit_scenes as tool
import make_mnist5k
from conftest import ROOT, tree_digest

SIZES = dict(pool_size=6, test_size=3, image_size=160, seed=0)
CLASSES = tuple(str(c) for c in range(10))
SPLITS = (('VOC2007', 'trainval'), ('VOC2012', 'trainval'), ('VOC2007', 'test'))
LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]


@pytest.fixture(scope='module')
def digits():
    return tool.mnist_digits()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('data') / 'digit_scenes')
    assert tool.make_digit_scenes(out, **SIZES) == 'written'
    return out


def read_manifest(folder):
    with open(osp.join(folder, tool.MANIFEST)) as f:
        return json.load(f)


def ssd300_voc0712():
    import mmdet
    return Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                                    'pascal_voc', 'ssd300_voc0712.py'))


def build_voc(folder, year, split, pipeline, **kwargs):
    """mmdet's VOCDataset over one split, as the VOC0712 configs write it."""
    import mmdet.datasets  # noqa: F401  (registers VOCDataset and the transforms)
    from mmdet.registry import DATASETS
    cfg = dict(type='VOCDataset', data_root=osp.join(folder, 'VOCdevkit') + '/',
               ann_file=f'{year}/ImageSets/Main/{split}.txt',
               data_prefix=dict(sub_data_root=f'{year}/'), metainfo=dict(classes=CLASSES),
               pipeline=pipeline, **kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


def redraw(digits, year, split, index, image_size=160, seed=0):
    pixels, labels = digits
    rows = tool.split_digits(labels)['pool' if split == 'trainval' else 'test']
    return tool.draw_scene(tool.scene_rng(seed, year, split, index), pixels, labels, rows,
                           image_size)


def block_means(img):
    """Means of the 8x8 pixel blocks: what JPEG keeps of noisy pixels."""
    h, w = img.shape[0] // 8, img.shape[1] // 8
    return img.astype(np.float32).reshape(h, 8, w, 8, 3).mean(axis=(1, 3))


def tight_box(mask):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def test_splits_have_the_requested_sizes_and_voc_like_unique_ids(dataset):
    ids = {}
    for year, split in SPLITS:
        ds = build_voc(dataset, year, split, [], test_mode=split == 'test')
        assert ds.metainfo['dataset_type'] == year
        assert tuple(ds.metainfo['classes']) == CLASSES
        ids[year, split] = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert ids == {('VOC2007', 'trainval'): ['000001', '000002', '000003', '000004'],
                   ('VOC2012', 'trainval'): ['2012_000001', '2012_000002'],
                   ('VOC2007', 'test'): ['000005', '000006', '000007']}
    assert ids == tool.image_ids(6, 3)
    assert tool.image_ids(3000, 1000)[('VOC2007', 'test')][-1] == '003000'
    every = sum(tool.image_ids(3000, 1000).values(), [])
    assert len(every) == len(set(every)) == 4000


def test_mmdet_loads_every_box_as_the_tight_box_of_the_digit_ink(dataset, digits):
    manifest = read_manifest(dataset)
    for year, split in SPLITS:
        ds = build_voc(dataset, year, split, LOAD, test_mode=split == 'test')
        for index in range(len(ds)):
            scene = redraw(digits, year, split, index)
            loaded = ds[index]
            boxes = [tight_box(mask) for mask in scene.masks]
            assert loaded['gt_bboxes'].tensor.numpy().tolist() == boxes
            assert [CLASSES[label] for label in loaded['gt_bboxes_labels']] == \
                [obj['name'] for obj in scene.objects]
            assert all(0 <= label <= 9 for label in loaded['gt_bboxes_labels'])
            assert not loaded['gt_ignore_flags'].any()
            assert [obj['bbox'] for obj in manifest['images'][f'{year}/{loaded["img_id"]}']] \
                == boxes
            # The JPEG is the drawn scene up to compression, and the ink stands out in it.
            img = loaded['img'][..., ::-1].astype(np.float32)  # mmcv loads BGR
            assert img.shape == (160, 160, 3)
            assert np.abs(block_means(img) - block_means(scene.image)).mean() < 2
            ink = np.any(scene.masks, axis=0)
            assert img[ink].mean() > img[~ink].mean() + 60


def test_the_framework_test_pipeline_of_ssd300_voc0712_reads_the_test_set(dataset, digits):
    cfg = ssd300_voc0712().test_dataloader.dataset
    cfg.update(data_root=osp.join(dataset, 'VOCdevkit') + '/', metainfo=dict(classes=CLASSES))
    import mmdet.datasets  # noqa: F401
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(cfg)
    assert len(ds) == 3
    sample = ds[1]
    assert tuple(sample['inputs'].shape) == (3, 300, 300)
    assert sample['data_samples'].scale_factor == (300 / 160, 300 / 160)
    # The test pipeline loads the boxes after Resize: in the image file's pixels.
    assert sample['data_samples'].gt_instances.bboxes.tensor.numpy().tolist() == \
        [tight_box(mask) for mask in redraw(digits, 'VOC2007', 'test', 1).masks]


def test_the_framework_train_set_is_the_concatenated_pool(dataset):
    cfg = ssd300_voc0712().train_dataloader.dataset
    while cfg.type != 'ConcatDataset':
        cfg = cfg.dataset  # RepeatDataset
    for part in cfg.datasets:
        part.update(data_root=osp.join(dataset, 'VOCdevkit') + '/',
                    metainfo=dict(classes=CLASSES), pipeline=LOAD)
    import mmdet.datasets  # noqa: F401
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(cfg)
    assert len(ds) == 6
    assert ds[5]['img_id'] == '2012_000002'


@pytest.mark.parametrize('name', ['ssd_digits_learnloss.py', 'ssd_digits_random.py'])
def test_the_shipped_configs_train_pipeline_gives_128_px_samples_with_their_digits(dataset, name):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'digit_scenes', name))
    import_modules_from_strings(**cfg.custom_imports)  # the fast crop, as the runner imports it
    for part in cfg.train_dataloader.dataset.dataset.datasets:
        part.data_root = osp.join(dataset, 'VOCdevkit') + '/'
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    for index in range(len(ds)):
        sample = ds[index]
        assert sample['inputs'].shape == (3, 128, 128)
        boxes = sample['data_samples'].gt_instances.bboxes.tensor
        assert len(boxes) >= 1 and boxes.min() >= 0 and boxes.max() <= 128


@pytest.mark.parametrize('name, widths', [
    ('ssd_digits_learnloss_headtaps.py', [64, 128, 128, 128, 88, 88, 88, 88]),
    ('ssd_digits_learnloss_scoretaps.py', [32, 64, 64, 64, 7, 7, 7, 7]),
    ('ssd_digits_learnloss_scorefit.py', [32, 64, 64, 64, 7, 7, 7, 7]),
    ('ssd_digits_learnloss_scorefit_instances.py', [32, 64, 64, 64, 7, 7, 7, 7]),
])
def test_the_module_options_read_the_neck_and_the_head_s_class_logits(dataset, name, widths):
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'digit_scenes', name))
    import_modules_from_strings(**cfg.custom_imports)
    for part in cfg.train_dataloader.dataset.dataset.datasets:
        part.data_root = osp.join(dataset, 'VOCdevkit') + '/'
    from mmdet.registry import DATASETS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(cfg.train_dataloader.dataset)
        model = MODELS.build(cfg.model)
        model.init_weights()  # as a Runner does: SSD's L2Norm is uninitialised memory before
    head = model.loss_prediction_head
    assert [branch[0].in_features for branch in head.branches] == widths
    np.random.seed(0)
    batch = pseudo_collate([ds[i] for i in range(2)])
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    before = head.fc.weight.detach().clone()
    log_vars = model.train_step(batch, optim)
    assert torch.isfinite(log_vars['loss_pred']) and log_vars['loss_pred'] > 0
    assert not torch.equal(head.fc.weight, before)  # the module learned from the step


def test_the_scorefit_recipe_trains_and_fits_its_module_on_the_clean_views(dataset, tmp_path):
    """ssd_digits_learnloss_scorefit.py through mmengine's Runner (plain training, one epoch):
    the detector trains, then LossModuleFitHook fits the module on the score summaries and
    neck maps of the labeled images through the test pipeline."""
    import re

    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'digit_scenes',
                                   'ssd_digits_learnloss_scorefit.py'))
    root = osp.join(dataset, 'VOCdevkit') + '/'
    for part in cfg.train_dataloader.dataset.dataset.datasets:
        part.data_root = root
    cfg.val_dataloader.dataset.data_root = root
    cfg.train_dataloader.dataset.times = 1
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=100)
    cfg.param_scheduler = None
    cfg.work_dir = str(tmp_path)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    fit = re.search(r'fit the loss prediction module on the (\d+) labeled images .* its ranking '
                    r'accuracy on them: (\d\.\d+)', log)
    assert fit and int(fit.group(1)) == 6
    assert float(fit.group(2)) >= 0.8
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))


def test_the_oracle_labels_the_images_whose_real_loss_times_boxes_is_highest(dataset, tmp_path):
    """ssd_digits_oracle_loss_instances.py through tools/al_train.py, two stages: the images
    it labels after the first are those whose real loss times boxes, computed here from the
    first stage's checkpoint through the test pipeline, is the highest."""
    import subprocess
    import sys

    import torch
    from mmengine.registry import MODELS
    from mmengine.runner import Runner, load_checkpoint

    from mmlearnloss.active.scoring import pool_loader_cfg
    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.engine import pipeline_transforms
    config = osp.join(ROOT, 'configs', 'digit_scenes', 'ssd_digits_oracle_loss_instances.py')
    root = osp.join(dataset, 'VOCdevkit') + '/'
    options = {f'train_dataloader.dataset.dataset.datasets.{i}.data_root': root for i in (0, 1)}
    options.update({
        'val_dataloader.dataset.data_root': root, 'test_dataloader.dataset.data_root': root,
        'train_cfg.num_stages': 2, 'train_cfg.initial_size': 2, 'train_cfg.query_size': 2,
        'train_cfg.max_epochs': 1, 'train_dataloader.batch_size': 2,
        'val_dataloader.batch_size': 2, 'train_dataloader.dataset.times': 1})
    work = tmp_path / 'run'
    result = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'al_train.py'), config, '--work-dir', str(work),
         '--cfg-options'] + [f'{k}={v}' for k, v in options.items()],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(work / 'al_state.json') as f:
        state = json.load(f)
    first = state['stages'][0]
    assert first['metrics']['pascal_voc/mAP'] >= 0 and len(first['selected']) == 2

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        load_checkpoint(model, first['checkpoint'], map_location='cpu', logger='silent')
        model.eval()
        model.read_eval_pipeline(pipeline_transforms(
            Runner.build_dataloader(cfg.val_dataloader).dataset))
        pool = PoolSplitter(cfg.train_dataloader.dataset.to_dict())
        unlabeled = [i for i in pool.sample_ids() if i not in state['labeled'][:2]]
        loader_cfg, order = pool_loader_cfg(cfg.val_dataloader, pool, unlabeled,
                                            str(tmp_path / 'splits'), 'pool')
        real, boxes = [], []
        for data in Runner.build_dataloader(loader_cfg):
            data = model.data_preprocessor(data, False)
            real.append(model.clean_view(data['inputs'], data['data_samples'])[1])
            boxes += [len(s.gt_instances) for s in data['data_samples']]
    real = torch.cat(real)
    assert len(real) == len(order) == 4 and len(set(boxes)) > 1  # scenes of 1-5 digits
    top = torch.sort(real, descending=True, stable=True)
    assert first['selected'] == [order[i] for i in top.indices[:2].tolist()]
    torch.testing.assert_close(torch.tensor(first['scores']), top.values[:2], rtol=1e-4,
                               atol=1e-5)


def test_test_digits_are_the_fixed_100_per_class_no_pool_image_uses(dataset, digits):
    _, labels = digits
    split = tool.split_digits(labels)
    pool, test = set(split['pool'].tolist()), set(split['test'].tolist())
    assert not pool & test and pool | test == set(range(5000))
    assert np.bincount(labels[split['test']], minlength=10).tolist() == [100] * 10
    assert np.array_equal(split['test'], make_mnist5k.split_rows(labels)['val'])
    for key, objects in read_manifest(dataset)['images'].items():
        used = {obj['row'] for obj in objects}
        assert used <= (test if key in ('VOC2007/000005', 'VOC2007/000006', 'VOC2007/000007')
                        else pool), key
        assert [obj['name'] for obj in objects] == [str(labels[obj['row']]) for obj in objects]


def test_scenes_hold_1_to_5_digits_inside_the_image_none_mostly_hidden(digits):
    counts, overlapping, heights = [], 0, []
    for index in range(150):
        scene = redraw(digits, 'VOC2007', 'trainval', index)
        boxes = [obj['bbox'] for obj in scene.objects]
        counts.append(len(boxes))
        assert all(0 <= x0 <= x1 < 160 and 0 <= y0 <= y1 < 160 for x0, y0, x1, y1 in boxes)
        for i, a in enumerate(boxes):
            for b in boxes[:i]:
                assert tool.overlap_fraction(a, b) <= 0.5
                overlapping += tool.overlap_fraction(a, b) > 0
        heights += [y1 - y0 + 1 for _, y0, _, y1 in boxes]
    assert set(counts) == {1, 2, 3, 4, 5}
    assert overlapping > 0  # touching and overlapping digits do occur
    assert 18 <= min(heights) and max(heights) <= 64 and max(heights) - min(heights) > 30


def test_same_arguments_give_byte_identical_files(dataset, tmp_path):
    again = str(tmp_path / 'again')
    assert tool.make_digit_scenes(again, **SIZES) == 'written'
    assert tree_digest(again) == tree_digest(dataset)


def test_an_image_does_not_change_when_the_dataset_grows(dataset, tmp_path):
    small = str(tmp_path / 'small')
    tool.make_digit_scenes(small, pool_size=3, test_size=1)
    name = 'VOCdevkit/VOC2007/JPEGImages/000002.jpg'
    with open(osp.join(small, name), 'rb') as a, open(osp.join(dataset, name), 'rb') as b:
        assert a.read() == b.read()


def test_second_run_on_the_same_dataset_changes_nothing(dataset):
    before = tree_digest(dataset)
    assert tool.make_digit_scenes(dataset, **SIZES) == 'up to date'
    assert tree_digest(dataset) == before


def test_refuses_a_folder_made_with_other_arguments_naming_them(dataset):
    before = tree_digest(dataset)
    with pytest.raises(FileExistsError, match=r'it was made with --pool-size 6 --image-size 160,'
                       r' this run asks for --pool-size 9 --image-size 96.*Refusing to overwrite'):
        tool.make_digit_scenes(dataset, pool_size=9, test_size=3, image_size=96)
    assert tree_digest(dataset) == before


def test_refuses_a_folder_with_changed_missing_or_extra_files_naming_them(dataset, tmp_path):
    out = str(shutil.copytree(dataset, tmp_path / 'copy'))
    xml = osp.join(out, 'VOCdevkit/VOC2012/Annotations/2012_000001.xml')
    with open(xml) as f:
        text = f.read()
    with open(xml, 'w') as f:
        f.write(text.replace('<name>', '<name>x', 1))
    os.remove(osp.join(out, 'VOCdevkit/VOC2007/JPEGImages/000003.jpg'))
    with open(osp.join(out, 'notes.txt'), 'w') as f:
        f.write('mine')
    before = tree_digest(out)
    with pytest.raises(FileExistsError) as error:
        tool.make_digit_scenes(out, **SIZES)
    message = str(error.value)
    assert '1 files are missing (VOCdevkit/VOC2007/JPEGImages/000003.jpg)' in message
    assert '1 files differ from what these arguments give ' \
        '(VOCdevkit/VOC2012/Annotations/2012_000001.xml)' in message
    assert '1 files are not part of the dataset (notes.txt)' in message
    assert tree_digest(out) == before


def test_refuses_a_foreign_folder_and_fills_an_empty_one(tmp_path):
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('my own files')
    with pytest.raises(FileExistsError, match='scenes.json is missing.*holds notes.txt'):
        tool.make_digit_scenes(str(mine), **SIZES)
    assert os.listdir(mine) == ['notes.txt']
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert tool.make_digit_scenes(str(empty), pool_size=3, test_size=1) == 'written'
    assert len(os.listdir(empty / 'VOCdevkit/VOC2007/JPEGImages')) == 3


def test_a_crash_leaves_no_half_dataset(tmp_path, monkeypatch):
    calls = []

    def failing_jpeg(image):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return b'jpeg'

    monkeypatch.setattr(tool, '_jpeg', failing_jpeg)
    with pytest.raises(KeyboardInterrupt):
        tool.make_digit_scenes(str(tmp_path / 'scenes'), pool_size=3, test_size=1)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('sizes, expected', [
    (dict(pool_size=0), '--pool-size 0 is too small: expected at least 3'),
    (dict(test_size=-1), '--test-size -1 is not positive: expected at least 1'),
    (dict(image_size=64), '--image-size 64 is too small for the digits.*expected --image-size '
     '96..1024'),
    (dict(image_size=4096), '--image-size 4096 is too large: expected 96..1024'),
    (dict(seed=-2), '--seed -2 is negative'),
])
def test_bad_arguments_are_rejected_saying_what_is_expected(tmp_path, sizes, expected):
    with pytest.raises(ValueError, match=expected):
        tool.make_digit_scenes(str(tmp_path / 'scenes'), **{**SIZES, **sizes})
    assert os.listdir(tmp_path) == []


def test_main_prints_progress_and_a_summary_and_writes_a_readme(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tool, 'PROGRESS_EVERY', 2)
    out = str(tmp_path / 'scenes')
    tool.main(['--out', out, '--pool-size', '3', '--test-size', '1', '--image-size', '96'])
    printed = capsys.readouterr().out
    assert '  2/4 images' in printed and '  4/4 images' in printed
    assert 'wrote MNIST digit scenes' in printed
    assert '4 images of 96 px: VOC2007 trainval 2, VOC2012 trainval 1, VOC2007 test 1' in printed
    boxes = sum(len(v) for v in read_manifest(out)['images'].values())
    assert f'{boxes} boxes, per class 0:' in printed
    with open(osp.join(out, 'README.txt')) as f:
        readme = f.read()
    assert ('python tools/make_digit_scenes.py --out <this folder> --pool-size 3 \\\n'
            '    --test-size 1 --image-size 96 --seed 0') in readme
    tool.main(['--out', out, '--pool-size', '3', '--test-size', '1', '--image-size', '96'])
    assert 'already holds (checked, left as it is)' in capsys.readouterr().out


def test_main_exits_with_the_reason(tmp_path):
    with pytest.raises(SystemExit, match='make_digit_scenes.py: error: --pool-size 1 is too '
                       'small'):
        tool.main(['--out', str(tmp_path / 'scenes'), '--pool-size', '1'])
