import numpy as np

from prtr.codecs import PRTRLabel


def test_prtr_label_keeps_out_of_crop_joints_by_default():
    codec = PRTRLabel(input_size=(192, 256))
    kpts = np.array([[[96., 128.], [-10., 20.], [200., 300.]]])
    vis = np.array([[1., 1., 0.]])
    enc = codec.encode(kpts, vis)
    # an unlabelled joint targets (0, 0), as upstream leaves it
    np.testing.assert_allclose(
        enc['keypoint_labels'][0],
        [[0.5, 0.5], [-10 / 192, 20 / 256], [0., 0.]],
        rtol=1e-6)
    # outside the crop but labelled: still supervised (official behaviour)
    np.testing.assert_array_equal(enc['keypoint_weights'], [[1., 1., 0.]])


def test_prtr_label_zero_out_of_crop_matches_mmpose():
    from mmpose.codecs import RegressionLabel
    kpts = np.array([[[96., 128.], [-10., 20.], [191., 255.]]])
    vis = np.array([[1., 1., 1.]])
    ours = PRTRLabel((192, 256), zero_out_of_crop=True).encode(kpts, vis)
    ref = RegressionLabel((192, 256)).encode(kpts, vis)
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key])
    np.testing.assert_array_equal(ours['keypoint_weights'], [[1., 0., 1.]])


def test_prtr_label_decodes_coordinates_and_scores():
    codec = PRTRLabel(input_size=(100, 200))
    enc = np.array([[[0.5, 0.25, 0.9], [1.0, 0.0, 0.1]]], dtype=np.float32)
    kpts, scores = codec.decode(enc)
    np.testing.assert_allclose(kpts, [[[50., 50.], [100., 0.]]])
    np.testing.assert_allclose(scores, [[0.9, 0.1]])


def test_prtr_label_batch_decode_equals_per_image_decode():
    import torch
    codec = PRTRLabel(input_size=(100, 200))
    enc = torch.rand(4, 1, 17, 3)
    kpts, scores = codec.batch_decode(enc)
    assert kpts.shape == (4, 1, 17, 2) and scores.shape == (4, 1, 17)
    for i in range(4):
        ref_kpts, ref_scores = codec.decode(enc[i].numpy())
        np.testing.assert_allclose(kpts[i], ref_kpts, rtol=1e-6)
        np.testing.assert_allclose(scores[i], ref_scores)
