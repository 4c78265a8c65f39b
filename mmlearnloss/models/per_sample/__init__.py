"""Each sample's real loss, the loss prediction module's target: the replay engine, the one-pass
paths, the family adapters and the entropy strategy's uncertainties."""
from .adapter import PerSampleAdapter
from .families import get_adapter
from .isolation import replay_rng
from .recorders import kept_features, kept_head_outputs
from .replay import ReplayAdapter, total_loss

__all__ = ['PerSampleAdapter', 'ReplayAdapter', 'get_adapter', 'kept_features',
           'kept_head_outputs', 'replay_rng', 'total_loss']
