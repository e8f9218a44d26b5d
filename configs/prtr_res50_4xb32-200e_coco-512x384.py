_base_ = ['./prtr_res50_4xb32-200e_coco-384x288.py']
from prtr.utils import at_input_size  # noqa: E402

# input size 512x384: the codec, the head's decoding and both pipelines
(codec, model, train_pipeline, val_pipeline, train_dataloader, val_dataloader,
 test_dataloader) = at_input_size(_base_, (384, 512))
