"""Calibration of engagement models on observed cascades, and how well they predict them.

Load cascades (:func:`load_cascades`), fit models with cross-validation (:class:`Calibrator`),
compare them with simple baselines on held-out cascades, and name the fit in a run config
(:func:`run_config`). ``docs/calibration.md`` walks through it.
"""

from engagegen.calibration.cascades import CascadeError, CascadeWarning, ObservedCascades, UserIds, load_cascades, write_cascades
from engagegen.calibration.fitting import CalibrationResult, Calibrator, ForecastSummary, ModelFit
from engagegen.calibration.models import BUILTIN_MODELS, BuiltinModel, CustomModel, Parameter
from engagegen.calibration.opinions import CascadeOpinions, opinions_from_cascades
from engagegen.calibration.snippet import run_config
from engagegen.calibration.synthetic import simulate_cascades

__all__ = ["CascadeError", "CascadeWarning", "ObservedCascades", "UserIds", "load_cascades", "write_cascades",
           "CalibrationResult", "Calibrator", "ForecastSummary", "ModelFit", "BUILTIN_MODELS", "BuiltinModel", "CustomModel",
           "Parameter", "CascadeOpinions", "opinions_from_cascades", "run_config", "simulate_cascades"]
