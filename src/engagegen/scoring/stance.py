"""A stance classifier trained on your own labelled posts: MiniLM embeddings -> calibrated logistic regression.

This is the paper's recipe for real data (embeddings, then calibrated logistic regression), with
the bundled MiniLM instead of DeBERTa. It replaces a movie-review sentiment model as a stance
proxy: it learns what "for" and "against" look like on your topic.

Trained on your labelled posts (it needs a few hundred to mean anything, so it is not run as a
test; ``engagegen scorer train`` is this)::

    clf = StanceClassifier().fit(texts, labels)        # labels: 1 = for, 0 = against
    clf.cross_validate(texts, labels).accuracy
    clf.save("scorer/"); StanceClassifier.load("scorer/").score(["Cats rule."])

Saved models are a JSON file (settings, embedder, checksum) and a numpy ``.npz`` file (the
coefficients of each calibrated fold's logistic regression and its sigmoid or isotonic
calibrator); no pickle. Predictions are computed from those arrays, so a loaded model gives
bit-for-bit the predictions of the fitted one on the same embeddings.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engagegen.files import InputFileError, atomic_write_bytes, atomic_write_text, csv_records, read_text
from engagegen.scoring.base import ScoringError, check_positive_int, check_texts, require
from engagegen.scoring.embedding import BUNDLED, Embedder
from engagegen.scoring.opinion import OpinionScorer

__all__ = ["StanceClassifier", "CrossValidation", "read_labelled_csv"]

FORMAT = "engagegen.stance-classifier"
VERSION = 1
JSON_NAME = "stance.json"
NPZ_NAME = "stance.npz"


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold scores: means over folds, and the per-fold values."""

    accuracy: float
    roc_auc: float
    macro_f1: float
    fold_accuracy: tuple[float, ...]
    fold_roc_auc: tuple[float, ...]
    fold_macro_f1: tuple[float, ...]
    n_samples: int
    n_positive: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_labels(labels: Any, n: int) -> np.ndarray:
    """Stance labels as an int array of 0/1, or an error naming the first bad one."""
    if isinstance(labels, (str, bytes)):
        raise ScoringError("labels must be a sequence of 0/1 stance labels, not a string")
    items = list(labels)
    if len(items) != n:
        raise ScoringError(f"got {len(items)} labels for {n} texts")
    out = np.empty(n, dtype=np.int64)
    for i, label in enumerate(items):
        ok = isinstance(label, (bool, np.bool_, int, np.integer, float, np.floating)) and float(label) in (0.0, 1.0)
        if not ok:
            raise ScoringError(f"label at position {i} is {label!r}: stance labels must be 0 (against) or 1 (for); "
                               "map other labels first (read_labelled_csv(label_map=...))")
        out[i] = int(label)
    return out


class StanceClassifier(OpinionScorer):
    """P(post supports the topic) from sentence embeddings, by calibrated logistic regression.

    C: inverse regularisation strength of the logistic regression.
    method: calibration, ``sigmoid`` (Platt; robust on small data) or ``isotonic`` (needs more data).
    folds: cross-validation folds of the calibration (``CalibratedClassifierCV(cv=folds)``); each
        fold's model is kept and their probabilities are averaged.
    seed: shuffling of the folds.
    embedder: the sentence embedder (default: the shared bundled MiniLM).
    invert: score 1 - P(for).
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        method: Literal["sigmoid", "isotonic"] = "sigmoid",
        folds: int = 5,
        seed: int = 0,
        embedder: Embedder | None = None,
        invert: bool = False,
        empty_value: float = 0.5,
    ) -> None:
        super().__init__(invert=invert, empty_value=empty_value, max_chars=20_000)
        if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0 or not math.isfinite(C):
            raise ScoringError(f"C must be a positive number, got {C!r}")
        if method not in ("sigmoid", "isotonic"):
            raise ScoringError(f"method must be 'sigmoid' or 'isotonic', got {method!r}")
        folds = check_positive_int(folds, "folds")
        if folds < 2:
            raise ScoringError(f"folds must be at least 2, got {folds}")
        self.C = float(C)
        self.method = method
        self.folds = folds
        self.seed = int(seed)
        self.embedder = embedder if embedder is not None else Embedder.shared()
        self.params_: dict[str, Any] | None = None
        self.n_train_: int = 0

    def __repr__(self) -> str:
        state = f"fitted on {self.n_train_}" if self.params_ is not None else "not fitted"
        return f"StanceClassifier(C={self.C}, method={self.method!r}, folds={self.folds}, invert={self.invert}) [{state}]"

    # ------------------------------------------------------------------ training
    def fit(self, texts: Sequence[str], labels: Sequence[Any], *, progress: bool = False) -> StanceClassifier:
        """Train on ``texts`` with stance ``labels`` (1 = for the topic, 0 = against)."""
        x, y = self._embed_labelled(texts, labels, progress)
        self.params_ = self._fit_arrays(x, y)
        self.n_train_ = len(y)
        return self

    def cross_validate(self, texts: Sequence[str], labels: Sequence[Any], *, folds: int | None = None,
                       progress: bool = False) -> CrossValidation:
        """Accuracy, ROC-AUC and macro-F1 of this configuration on held-out folds (stratified, shuffled).

        Each outer fold trains a fresh classifier (with its own inner calibration folds) on the rest.
        Does not change this classifier.
        """
        metrics = require("sklearn.metrics", package="scikit-learn", needed_by="StanceClassifier")
        model_selection = require("sklearn.model_selection", package="scikit-learn", needed_by="StanceClassifier")
        outer = check_positive_int(folds if folds is not None else self.folds, "folds")
        # every outer training split must still hold `folds` posts of each stance for the inner calibration
        x, y = self._embed_labelled(texts, labels, progress, min_per_class=2 * max(outer, self.folds))
        splitter = model_selection.StratifiedKFold(n_splits=outer, shuffle=True, random_state=self.seed)
        acc, auc, f1 = [], [], []
        splits = list(splitter.split(x, y))
        bar = _fold_bar(len(splits)) if progress else None
        try:
            for train, test in splits:
                params = self._fit_arrays(x[train], y[train])
                p = _predict(params, x[test])
                pred = (p >= 0.5).astype(np.int64)
                acc.append(float(metrics.accuracy_score(y[test], pred)))
                auc.append(float(metrics.roc_auc_score(y[test], p)) if len(set(y[test])) == 2 else math.nan)
                f1.append(float(metrics.f1_score(y[test], pred, average="macro")))
                if bar is not None:
                    bar[0].advance(bar[1])
        finally:
            if bar is not None:
                bar[0].stop()
        return CrossValidation(float(np.mean(acc)), float(np.nanmean(auc)), float(np.mean(f1)),
                               tuple(acc), tuple(auc), tuple(f1), len(y), int(y.sum()))

    def _embed_labelled(self, texts: Sequence[str], labels: Sequence[Any], progress: bool,
                        min_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        checked = check_texts(texts, scorer="StanceClassifier")
        if checked.empty.any():
            raise ScoringError(f"training text at position {int(np.flatnonzero(checked.empty)[0])} is empty")
        y = check_labels(labels, len(checked.texts))
        need = max(self.folds, min_per_class or 0)
        for value, name in ((1, "for (1)"), (0, "against (0)")):
            count = int((y == value).sum())
            if count < need:
                raise ScoringError(f"need at least {need} training posts labelled {name} for {need}-fold "
                                   f"cross-validation; got {count}")
        return self.embedder.encode(checked.texts, progress=progress).astype(np.float64), y

    def _fit_arrays(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        calibration = require("sklearn.calibration", package="scikit-learn", needed_by="StanceClassifier")
        linear = require("sklearn.linear_model", package="scikit-learn", needed_by="StanceClassifier")
        model_selection = require("sklearn.model_selection", package="scikit-learn", needed_by="StanceClassifier")
        cv = model_selection.StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        clf = calibration.CalibratedClassifierCV(linear.LogisticRegression(C=self.C, max_iter=2000),
                                                 method=self.method, cv=cv, ensemble=True)
        clf.fit(x, y)
        return _extract(clf, self.method)

    # ------------------------------------------------------------------ scoring
    def _opinion(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        if self.params_ is None:
            raise ScoringError("this StanceClassifier is not fitted: call fit(texts, labels) or StanceClassifier.load(dir)")
        return _predict(self.params_, self.embedder.encode(texts).astype(np.float64)), [""] * len(texts)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``stance.json`` and ``stance.npz`` into ``directory`` (created if needed), atomically."""
        if self.params_ is None:
            raise ScoringError("cannot save a StanceClassifier that is not fitted")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"coef": self.params_["coef"], "intercept": self.params_["intercept"]}
        if self.method == "sigmoid":
            arrays.update(a=self.params_["a"], b=self.params_["b"])
        else:
            for k, (xs, ys) in enumerate(zip(self.params_["x_thresholds"], self.params_["y_thresholds"])):
                arrays[f"x_thresholds_{k}"], arrays[f"y_thresholds_{k}"] = xs, ys
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        payload = buf.getvalue()
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "C": self.C,
            "folds": self.folds,
            "seed": self.seed,
            "invert": self.invert,
            "empty_value": self.empty_value,
            "n_train": self.n_train_,
            "n_calibrated": int(self.params_["coef"].shape[0]),
            "dimension": int(self.params_["coef"].shape[1]),
            "embedder": {"model": self.embedder.model, "precision": self.embedder.precision},
            "npz_sha256": hashlib.sha256(payload).hexdigest(),
        }
        # The .npz goes first; the JSON (with the checksum of that .npz) commits the pair.
        atomic_write_bytes(folder / NPZ_NAME, payload)
        atomic_write_text(folder / JSON_NAME, json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, directory: str | os.PathLike, *, embedder: Embedder | None = None) -> StanceClassifier:
        """Read a classifier written by :meth:`save`; errors name the file and the problem."""
        folder = Path(directory)
        json_path, npz_path = folder / JSON_NAME, folder / NPZ_NAME
        for path in (json_path, npz_path):
            if not path.is_file():
                raise ScoringError(f"{path}: no such file (a saved StanceClassifier has {JSON_NAME} and {NPZ_NAME})")
        try:
            meta = json.loads(read_text(json_path))
        except InputFileError as exc:
            raise ScoringError(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise ScoringError(f"{json_path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ScoringError(f"{json_path}: not a saved StanceClassifier (format {FORMAT!r} expected)")
        if meta.get("version") != VERSION:
            raise ScoringError(f"{json_path}: format version {meta.get('version')!r}, this engagegen reads {VERSION}")
        payload = npz_path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != meta.get("npz_sha256"):
            raise ScoringError(f"{npz_path}: checksum does not match {json_path} (files from different saves?)")
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise ScoringError(f"{npz_path}: cannot read the arrays, truncated or corrupt ({exc})") from None
        try:
            method = meta["method"]
            k, dim = int(meta["n_calibrated"]), int(meta["dimension"])
            params: dict[str, Any] = {"method": method, "coef": arrays["coef"], "intercept": arrays["intercept"]}
            if method == "sigmoid":
                params.update(a=arrays["a"], b=arrays["b"])
            else:
                params["x_thresholds"] = [arrays[f"x_thresholds_{i}"] for i in range(k)]
                params["y_thresholds"] = [arrays[f"y_thresholds_{i}"] for i in range(k)]
            saved_model, precision = meta["embedder"]["model"], meta["embedder"]["precision"]
            if embedder is None:
                embedder = Embedder.shared(None if saved_model == BUNDLED else saved_model, precision=precision)
            clf = cls(C=meta["C"], method=method, folds=meta["folds"], seed=meta["seed"], invert=meta["invert"],
                      empty_value=meta["empty_value"], embedder=embedder)
        except KeyError as exc:
            raise ScoringError(f"{json_path} / {npz_path}: missing entry {exc.args[0]!r}") from None
        if params["coef"].shape != (k, dim) or params["intercept"].shape != (k,):
            raise ScoringError(f"{npz_path}: coefficient shapes {params['coef'].shape} do not match "
                               f"{k} x {dim} in {json_path}")
        clf.params_ = params
        clf.n_train_ = int(meta.get("n_train", 0))
        return clf


def _extract(clf: Any, method: str) -> dict[str, Any]:
    """The arrays behind a fitted binary ``CalibratedClassifierCV`` of logistic regressions."""
    coefs, intercepts, a, b, xs, ys = [], [], [], [], [], []
    for cc in clf.calibrated_classifiers_:
        coefs.append(cc.estimator.coef_[0].astype(np.float64))
        intercepts.append(float(cc.estimator.intercept_[0]))
        (calibrator,) = cc.calibrators
        if method == "sigmoid":
            a.append(float(calibrator.a_))
            b.append(float(calibrator.b_))
        else:
            xs.append(np.asarray(calibrator.X_thresholds_, dtype=np.float64))
            ys.append(np.asarray(calibrator.y_thresholds_, dtype=np.float64))
    params: dict[str, Any] = {"method": method, "coef": np.stack(coefs), "intercept": np.array(intercepts)}
    if method == "sigmoid":
        params.update(a=np.array(a), b=np.array(b))
    else:
        params.update(x_thresholds=xs, y_thresholds=ys)
    return params


def _predict(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """P(class 1): the mean over calibrated folds, as ``CalibratedClassifierCV.predict_proba`` computes it."""
    decision = x @ params["coef"].T + params["intercept"]  # (n, folds)
    if params["method"] == "sigmoid":
        # sklearn's _SigmoidCalibration: p = 1 / (1 + exp(a * f + b))
        proba = 1.0 / (1.0 + np.exp(decision * params["a"] + params["b"]))
    else:
        # IsotonicRegression(out_of_bounds="clip"): clip to the fitted range, then interpolate linearly.
        proba = np.column_stack([
            np.interp(np.clip(decision[:, k], xs[0], xs[-1]), xs, ys)
            for k, (xs, ys) in enumerate(zip(params["x_thresholds"], params["y_thresholds"]))
        ])
    return proba.mean(axis=1)


def _fold_bar(total: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("cross-validation"), BarColumn(), MofNCompleteColumn(), transient=True)
    task = bar.add_task("cv", total=total)
    bar.start()
    return bar, task


def read_labelled_csv(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "stance",
    label_map: Mapping[str, float] | None = None,
) -> tuple[list[str], list[int]]:
    """Texts and 0/1 stance labels from a CSV with a header row.

    Labels are read as numbers (``0``/``1``, also ``0.0``/``1.0``) unless ``label_map`` maps each
    label string to 0 or 1 (e.g. ``{"leave": 1, "remain": 0}``). Every problem raises
    :class:`ScoringError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ScoringError(f"{path}: no such file")
    if label_map is not None:
        for key, value in label_map.items():
            if value not in (0, 1):
                raise ScoringError(f"label map: {key!r} maps to {value!r}; stance labels must be 0 or 1")
    texts: list[str] = []
    labels: list[int] = []
    try:
        header, rows = csv_records(path)
    except InputFileError as exc:
        raise ScoringError(str(exc)) from None
    for column, option in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in header:
            raise ScoringError(f"{path}, line 1: no column {column!r} (columns: {', '.join(map(repr, header))}); "
                               f"choose one with {option}")
    for row in rows:
        line = row.line
        text, raw = row.fields[text_column], row.fields[label_column].strip()
        if not text.strip():
            raise ScoringError(f"{path}, line {line}: empty text")
        if label_map is not None:
            if raw not in label_map:
                raise ScoringError(f"{path}, line {line}: label {raw!r} is not in the label map "
                                   f"({', '.join(map(repr, label_map))})")
            label = int(label_map[raw])
        else:
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if value not in (0.0, 1.0):
                raise ScoringError(f"{path}, line {line}: label {raw!r} in column {label_column!r} is not 0 or 1; "
                                   "map text labels with a label map (--label-map LABEL=0|1)")
            label = int(value)
        texts.append(text)
        labels.append(label)
    if not texts:
        raise ScoringError(f"{path}: no data rows")
    return texts, labels
