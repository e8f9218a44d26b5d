_base_ = ['./prtr_res50_4xb32-200e_mpii-256x256.py']
from prtr.utils import at_input_size  # noqa: E402

# input size 512x512: the codec, the head's decoding and both pipelines
(codec, model, train_pipeline, val_pipeline, train_dataloader, val_dataloader,
 test_dataloader) = at_input_size(_base_, (512, 512))
