"""Each sample's real loss, the loss prediction module's target: the adapter interface
(:mod:`.adapter`), the replay engine (:mod:`.replay`), what a replay must not change
(:mod:`.isolation`), the recorders of features and head outputs (:mod:`.recorders`), the one-pass
paths per framework (:mod:`.one_pass`), the family adapters (:mod:`.families`) and the entropy
strategy's uncertainties (:mod:`.entropy`)."""
from .adapter import PerSampleAdapter
from .families import get_adapter
from .recorders import kept_features, kept_head_outputs
from .replay import ReplayAdapter, total_loss

__all__ = ['PerSampleAdapter', 'ReplayAdapter', 'get_adapter', 'kept_features',
           'kept_head_outputs', 'total_loss']
