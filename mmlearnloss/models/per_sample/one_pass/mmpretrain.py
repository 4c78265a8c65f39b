"""mmpretrain's one pass: the classifier head's loss with ``reduction_override='none'``."""
import inspect
from typing import Optional

from torch import Tensor, nn


def uses_cls_head_loss(model: nn.Module) -> bool:
    """Whether ``model.loss`` is ImageClassifier's and its head's loss is ClsHead's, with a loss
    module that takes ``reduction_override``: then one pass gives exact per-sample losses."""
    head = getattr(model, 'head', None)
    bases = {klass.__name__: klass for klass in type(model).__mro__ + type(head).__mro__}
    if 'ImageClassifier' not in bases or 'ClsHead' not in bases:
        return False
    loss_module = getattr(head, 'loss_module', None)
    return (type(model).loss is bases['ImageClassifier'].loss
            and type(head).loss is bases['ClsHead'].loss
            and type(head)._get_loss is bases['ClsHead']._get_loss
            and loss_module is not None
            and 'reduction_override' in inspect.signature(loss_module.forward).parameters)


def cls_head_losses(model: nn.Module, feats, data_samples) -> Optional[Tensor]:
    """Each sample's loss [B] from one call of a ``ClsHead``'s loss on the batch's features with
    ``reduction_override='none'``: exactly the replay, batch augments' soft ``gt_score``
    included. None where the loss module reduces anyway.

    Run on the kept features rather than read from the batch loss: in training, the batch's
    head output carries its dropout (MobileNetV3's head), a target the seeded replay's.
    """
    losses = model.head.loss(feats, data_samples, reduction_override='none')
    if losses['loss'].shape == (len(data_samples), ):
        return losses['loss']
    return None
