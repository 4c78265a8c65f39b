"""Scoring options for large pools: mixed precision, a scoring batch size, pinned memory."""
import torch
from mmengine.dataset import pseudo_collate
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from conftest import build_model
from mmlearnloss.active.scoring import score_pool
from test_al_train import CLS_OPTIONS, al_train, load_state, mini_root  # noqa: F401


def image_loader(n=10, batch_size=4):
    generator = torch.Generator().manual_seed(0)
    samples = [dict(inputs=torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8,
                                         generator=generator),
                    data_samples=DataSample()) for _ in range(n)]
    return DataLoader(samples, batch_size=batch_size, collate_fn=pseudo_collate)


def test_mixed_precision_scores_are_float32_close_to_full_precision_and_not_equal():
    model = build_model('resnet18_cifar10_learnloss.py', 'mmpretrain')
    loader, ids = image_loader(), [str(i) for i in range(10)]
    needs = ('pred_loss', 'features')
    _, full = score_pool(model, loader, ids, needs)
    _, mixed = score_pool(model, loader, ids, needs, amp=True)
    for name in needs:
        assert mixed[name].dtype == torch.float32 and mixed[name].shape == full[name].shape
        # bfloat16 on the CPU: 8 bits of mantissa, so close but not the same numbers.
        torch.testing.assert_close(mixed[name], full[name], rtol=0.05, atol=0.05)
        assert not torch.equal(mixed[name], full[name])


def test_the_loop_scores_with_its_own_batch_size_mixed_precision_and_pinned_memory(
        mini_root, tmp_path):  # noqa: F811
    # 14 pool samples (CLS_OPTIONS' subset is 40): two whole scoring batches of 7 and 4 left
    # unselected. bfloat16 on a CPU without native bfloat16 is ~50x slower than float32, so
    # the 40 cost half a minute.
    result = al_train(mini_root, 'resnet18_cifar10_learnloss_mini.py', tmp_path, *CLS_OPTIONS,
                      'train_cfg.subset_size=14', 'train_cfg.score_batch_size=7',
                      'val_dataloader.batch_size=2',  # the dry run scores one such batch
                      'train_cfg.score_amp=True', 'train_cfg.score_pin_memory=True')
    assert result.returncode == 0, result.stderr[-3000:]
    assert ('Scoring 14 samples (pred_loss; batch size 7, mixed precision, pinned memory)'
            in result.stdout)
    first = load_state(tmp_path)['stages'][0]
    assert len(first['selected']) == 10
    assert first['scores'] == sorted(first['scores'], reverse=True)
