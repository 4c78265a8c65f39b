"""Training's random draws as functions of where they are made, so that a restart makes them again.

The loop (:meth:`ActiveLearningLoop.run_epoch`) seeds every epoch's data order, every sample's
augmentation and every iteration's model draws from (seed, stage, epoch[, rank]) with
:func:`derive_seed`. A sample's augmentation is seeded where the sample is loaded
(:class:`SampleSeededDataset`), so it is the same in the main process, in a worker and in a
persistent worker started epochs before, whichever batches were loaded before it.
"""
import random
from typing import Union

import torch
from mmengine.registry import DATASETS

from mmlearnloss.utils import seeded_rng


def derive_seed(*parts) -> int:
    """A seed in ``[0, 2**32)`` (what ``np.random.seed`` takes) that is a function of ``parts``
    alone, e.g. ``derive_seed(seed, rank, stage, epoch)``. Distinct parts give
    unrelated seeds: ``random.Random`` hashes the joined string with SHA-512."""
    return random.Random('-'.join(map(str, parts))).getrandbits(32)


class SampleSeededDataset:
    """A dataset whose ``dataset[index]`` draws its random transforms from its own seed,
    ``derive_seed(epoch_seed, index)``, and leaves the process's random streams as they were.

    The epoch seed is a shared-memory tensor: the main process sets it before an epoch starts
    (:meth:`set_epoch_seed`) and workers, persistent ones included, read it when they load a
    sample. Until it is set (the dry run's batch) samples draw from the process's streams, as
    without the wrapper. Everything else (``metainfo``, ``pipeline``, ``get_data_info``, setting
    ``pipeline`` as mmdet's ``PipelineSwitchHook`` does) is the wrapped dataset's.

    Built from a config, ``dict(type=SampleSeededDataset, dataset=DATASET_CFG)``, like mmengine's
    dataset wrappers: ``Runner.build_dataloader`` deep-copies a dataset object given in place of
    a config, and a copy's tensor is not the shared one.

    Args:
        dataset (dict | Dataset): The dataset or its config.
    """

    def __init__(self, dataset: Union[dict, object]) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        object.__setattr__(self, 'dataset', dataset)
        object.__setattr__(self, 'epoch_seed',
                           torch.full((), -1, dtype=torch.int64).share_memory_())

    def set_epoch_seed(self, seed: int) -> None:
        """Seed the samples loaded from now on, in every process (``seed >= 0``)."""
        self.epoch_seed.fill_(seed)

    def __getitem__(self, index):
        epoch_seed = int(self.epoch_seed)
        if epoch_seed < 0:
            return self.dataset[index]
        with seeded_rng(derive_seed(epoch_seed, index), torch.device('cpu')):
            return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):
        # Looked up only when not found on the wrapper; while unpickling there is no
        # ``dataset`` yet, and protocol names (__setstate__, __deepcopy__) stay the wrapper's.
        if name.startswith('__') or name in ('dataset', 'epoch_seed'):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __setattr__(self, name, value) -> None:
        setattr(self.dataset, name, value)
