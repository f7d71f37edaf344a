"""Stance classifier: calibrated logistic regression on MiniLM embeddings, saved without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engagegen.scoring import CrossValidation, ScoringError, StanceClassifier, read_labelled_csv

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data" / "scoring_stance_cats.csv"
NEW = ["Cats are lovely little friends.", "I really can't stand cats.", "It rained all day.", "Kittens!"]


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[int]]:
    return read_labelled_csv(DATA)


@pytest.fixture(scope="module", params=["sigmoid", "isotonic"])
def fitted(request, data) -> StanceClassifier:
    return StanceClassifier(method=request.param).fit(*data)


def test_predictions_equal_sklearn_calibrated_classifier(fitted, data):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    texts, labels = data
    x = fitted.embedder.encode(texts).astype(np.float64)
    reference = CalibratedClassifierCV(LogisticRegression(C=1.0, max_iter=2000), method=fitted.method,
                                       cv=StratifiedKFold(5, shuffle=True, random_state=0)).fit(x, labels)
    expected = reference.predict_proba(fitted.embedder.encode(NEW).astype(np.float64))[:, 1]
    np.testing.assert_allclose(fitted.score(NEW), expected, rtol=0, atol=1e-12)


def test_learns_the_stance(fitted):
    s = fitted.score(NEW)
    assert s[0] > 0.5 > s[1]


def test_save_and_load_reproduce_predictions_exactly(fitted, tmp_path):
    fitted.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stance.json", "stance.npz"]
    meta = json.loads((tmp_path / "stance.json").read_text())
    assert meta["method"] == fitted.method and meta["n_calibrated"] == 5 and meta["dimension"] == 384
    with np.load(tmp_path / "stance.npz", allow_pickle=False) as npz:  # plain arrays, no pickled objects
        assert npz["coef"].shape == (5, 384)
        assert ({"a", "b"} <= set(npz.files)) == (fitted.method == "sigmoid")
    loaded = StanceClassifier.load(tmp_path)
    np.testing.assert_array_equal(loaded.score(NEW), fitted.score(NEW))
    assert loaded.method == fitted.method and loaded.n_train_ == 50
    assert loaded.embedder is fitted.embedder  # the shared MiniLM, not a second copy


def test_invert_and_empty(data):
    clf = StanceClassifier(invert=True).fit(*data)
    normal = StanceClassifier().fit(*data)
    np.testing.assert_allclose(clf.score(NEW), 1 - normal.score(NEW))
    result = normal.evaluate(["", "cats"])
    assert result.values[0] == 0.5 and result.reasons[0] == "empty text"


def test_cross_validation_reports_accuracy_auc_and_macro_f1(data):
    cv = StanceClassifier().cross_validate(*data)
    assert isinstance(cv, CrossValidation)
    print(f"\nstance on cats (50 posts, 5-fold): accuracy {cv.accuracy:.3f}, ROC-AUC {cv.roc_auc:.3f}, "
          f"macro-F1 {cv.macro_f1:.3f}")
    assert len(cv.fold_accuracy) == 5 and cv.n_samples == 50 and cv.n_positive == 25
    assert cv.accuracy == pytest.approx(np.mean(cv.fold_accuracy))
    assert cv.accuracy > 0.75 and cv.roc_auc > 0.85 and cv.macro_f1 > 0.75


def test_training_errors(data):
    texts, labels = data
    with pytest.raises(ScoringError, match="position 1 is 0.5"):
        StanceClassifier().fit(texts[:3], [1, 0.5, 0])
    with pytest.raises(ScoringError, match="got 3 labels for 50 texts"):
        StanceClassifier().fit(texts, labels[:3])
    with pytest.raises(ScoringError, match="at least 5 training posts labelled for"):
        StanceClassifier().fit(texts[:12], [1, 1] + [0] * 10)
    with pytest.raises(ScoringError, match="not fitted"):
        StanceClassifier().score(["cats"])
    with pytest.raises(ScoringError, match="method"):
        StanceClassifier(method="platt")
    with pytest.raises(ScoringError, match="folds"):
        StanceClassifier(folds=1)


def test_load_errors_name_the_file(fitted, tmp_path):
    with pytest.raises(ScoringError, match="stance.json: no such file"):
        StanceClassifier.load(tmp_path)
    fitted.save(tmp_path)
    npz = tmp_path / "stance.npz"
    npz.write_bytes(npz.read_bytes()[:-1] + b"x")
    with pytest.raises(ScoringError, match="stance.npz: checksum does not match"):
        StanceClassifier.load(tmp_path)
    (tmp_path / "stance.json").write_text('{"format": "something else"}')
    with pytest.raises(ScoringError, match="not a saved StanceClassifier"):
        StanceClassifier.load(tmp_path)
    (tmp_path / "stance.json").write_text('{"format": \n oops')
    with pytest.raises(ScoringError, match="stance.json, line 2: not valid JSON"):
        StanceClassifier.load(tmp_path)


def test_read_labelled_csv(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("body,side\nCats rule,leave\nCats drool,remain\n", encoding="utf-8")
    texts, labels = read_labelled_csv(path, "body", "side", {"leave": 1, "remain": 0})
    assert texts == ["Cats rule", "Cats drool"] and labels == [1, 0]
    with pytest.raises(ScoringError, match=r"posts.csv, line 2: label 'leave' in column 'side' is not 0 or 1"):
        read_labelled_csv(path, "body", "side")
    with pytest.raises(ScoringError, match=r"line 3: label 'remain' is not in the label map"):
        read_labelled_csv(path, "body", "side", {"leave": 1})
    with pytest.raises(ScoringError, match=r"line 1: no column 'text'.*--text-column"):
        read_labelled_csv(path)
    path.write_text("text,stance\nCats rule,1\n ,0\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="line 3: empty text"):
        read_labelled_csv(path)
    path.write_text("text,stance\nCats rule,1,extra\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="line 2: 3 field\\(s\\), but the header has 2"):
        read_labelled_csv(path)
