"""VOC mAP@0.5, model prediction over a data set, and precision-recall plots."""

from bcn.evaluation.voc_map import ClassResult, Evaluation, evaluate_detections, voc_ap

__all__ = ["ClassResult", "Evaluation", "evaluate_detections", "voc_ap"]
