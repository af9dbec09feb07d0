"""VOC mAP@0.5, model prediction over a data set, and precision-recall plots; `evaluate` runs them all."""

from bcn.evaluation.evaluator import EvalReport, evaluate
from bcn.evaluation.voc_map import ClassResult, Evaluation, evaluate_detections, voc_ap

__all__ = ["ClassResult", "EvalReport", "Evaluation", "evaluate", "evaluate_detections", "voc_ap"]
