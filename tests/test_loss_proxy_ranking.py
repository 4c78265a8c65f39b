"""tools/analysis/loss_proxy_ranking.py: ranking accuracy of pred_loss and of the uncertainty."""
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

from loss_proxy_ranking import main, rank_proxies  # noqa: E402

REAL = torch.tensor([0.1, 2.0, 0.5, 3.0, 1.0, 0.01])


class FakeModel(torch.nn.Module):
    """Scores batches of indices: pred_loss ranks the real losses backwards, uncertainty right."""

    def __init__(self):
        super().__init__()
        self.architecture = None
        self.adapter = SimpleNamespace(loss=lambda arch, inputs, samples: (None, REAL[inputs]))

    def data_preprocessor(self, data, training):
        return dict(inputs=data, data_samples=None)

    def score(self, inputs, data_samples, needs):
        return dict(pred_loss=-REAL[inputs], uncertainty=REAL[inputs] * 2)


def test_rank_proxies_scores_both_rankings_against_the_real_loss():
    loader = [torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])]
    result = rank_proxies(FakeModel(), loader)
    assert result == dict(pred_loss=0.0, uncertainty=1.0, samples=6)


def test_a_dir_without_state_says_what_is_expected(tmp_path):
    with pytest.raises(SystemExit, match='no .*al_state.json; expected a run dir'):
        main([str(tmp_path)])
