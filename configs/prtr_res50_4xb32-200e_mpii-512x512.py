_base_ = ['./prtr_res50_4xb32-200e_mpii-256x256.py']

# input size 512x512 (codec, head decoding and both pipelines use it)
codec = dict(type='PRTRLabel', input_size=(512, 512))
model = dict(head=dict(decoder=codec))

# both pipelines are the base's with TopdownAffine and the codec resized
__sized = dict(
    TopdownAffine=dict(input_size=codec['input_size']),
    GenerateTarget=dict(encoder=codec))
train_pipeline = [
    dict(t, **__sized.get(t.type, {})) for t in _base_.train_pipeline
]
val_pipeline = [
    dict(t, **__sized.get(t.type, {})) for t in _base_.val_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
