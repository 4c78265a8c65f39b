"""Per-sample losses read from the batch loss itself, where the framework's computation already
holds each sample's terms: no replay per sample. One module per framework."""
from .mmdet import (computes_anchor_head_loss, computes_faster_rcnn_loss, computes_fcos_loss,
                    computes_ssd_loss, computes_yolox_loss, dense_head_terms, faster_rcnn_terms,
                    fcos_head_terms, quality_head_normalisers, quality_head_terms, ssd_image_terms,
                    yolox_head_terms)
from .mmpose import computes_pose_head_loss, pose_loss_terms
from .mmpretrain import uses_cls_head_loss

__all__ = ['computes_anchor_head_loss', 'computes_faster_rcnn_loss', 'computes_fcos_loss',
           'computes_pose_head_loss', 'computes_ssd_loss', 'computes_yolox_loss',
           'dense_head_terms', 'faster_rcnn_terms', 'fcos_head_terms', 'pose_loss_terms',
           'quality_head_normalisers', 'quality_head_terms', 'ssd_image_terms',
           'uses_cls_head_loss', 'yolox_head_terms']
