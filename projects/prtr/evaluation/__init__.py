from .person_box_metric import PersonBoxCocoMetric

__all__ = ['PersonBoxCocoMetric']
