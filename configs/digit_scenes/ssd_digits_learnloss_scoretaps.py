# Learning loss whose module also reads what the detector outputs: the neck's four maps averaged
# (the paper) and, for each of the head's four levels of class logits ('bbox_head[0]'), a summary
# of its detections (how many priors are confident, how confident the top ones are; pooling
# 'scores', LossPredictionHead). Everything else is the paper's recipe of ./ssd_digits_learnloss.py.
_base_ = './ssd_digits_learnloss.py'

scores = dict(type='scores', num_classes=10, use_sigmoid=False)
model = dict(
    taps=['neck', 'bbox_head[0]'],
    loss_prediction_head=dict(_delete_=True, type='mmlearnloss.LossPredictionHead',
                              pooling=['avg'] * 4 + [scores] * 4))
