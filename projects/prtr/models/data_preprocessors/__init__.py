from .eager_pose_data_preprocessor import EagerPoseDataPreprocessor

__all__ = ['EagerPoseDataPreprocessor']
