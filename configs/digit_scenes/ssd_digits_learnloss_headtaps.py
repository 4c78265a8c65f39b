# Learning loss whose module also reads the detector's outputs: the neck's four maps and the
# class logits of the head's four levels ('bbox_head[0]'), each pooled by average and max
# ('avgmax'). Everything else is the paper's recipe of ./ssd_digits_learnloss.py.
_base_ = './ssd_digits_learnloss.py'

model = dict(
    taps=['neck', 'bbox_head[0]'],
    loss_prediction_head=dict(_delete_=True, type='mmlearnloss.LossPredictionHead',
                              pooling='avgmax'))
