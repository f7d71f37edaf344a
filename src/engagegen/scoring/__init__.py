"""Text scorers: opinion value, fluency, topic alignment, moderation and language of posts.

Every scorer has ``score(texts) -> np.ndarray`` (one float per text, batched) and so fits the
:class:`TextScorer` protocol; ``evaluate(texts)`` adds a reason per text (empty, truncated, ...).
The heavy packages (vaderSentiment, textstat, torch, transformers, scikit-learn)
are imported inside the scorers; without them the error says ``pip install 'engagegen[scoring]'``.

>>> from engagegen.scoring import VaderOpinion, Fluency, Moderation
>>> VaderOpinion().score(["Cats are wonderful!"]).round(2).tolist()
[0.81]
>>> Moderation().flags(["I will find you and hurt you", "My cat hurt her paw"])
[['threat'], []]
"""

from engagegen.scoring.base import (
    BatchScorer,
    MissingExtraError,
    Scores,
    ScoringError,
    ScoringWarning,
    TextScorer,
    TextsTypeError,
    check_texts,
)
from engagegen.scoring.embedding import Embedder, bundled_model_path, reused_embeddings
from engagegen.scoring.fluency import Fluency, FluencyDetails
from engagegen.scoring.language import LanguageCheck, LanguageGuess
from engagegen.scoring.moderation import CATEGORIES, Moderation, ModerationMatch
from engagegen.scoring.moderation_semantic import SemanticModerator
from engagegen.scoring.opinion import (
    ChatModel,
    LLMJudgeOpinion,
    OpinionScorer,
    TransformersOpinion,
    VaderOpinion,
    parse_rating,
)
from engagegen.scoring.perplexity import Perplexity
from engagegen.scoring.posts import PostRecord, PostsFileError, read_posts
from engagegen.scoring.stance import CrossValidation, StanceClassifier, read_labelled_csv
from engagegen.scoring.topic import TopicAlignment, TopicDetails

__all__ = [
    "TextScorer",
    "BatchScorer",
    "Scores",
    "ScoringError",
    "TextsTypeError",
    "ScoringWarning",
    "MissingExtraError",
    "check_texts",
    "Embedder",
    "bundled_model_path",
    "reused_embeddings",
    "OpinionScorer",
    "VaderOpinion",
    "TransformersOpinion",
    "LLMJudgeOpinion",
    "ChatModel",
    "parse_rating",
    "StanceClassifier",
    "CrossValidation",
    "read_labelled_csv",
    "Fluency",
    "FluencyDetails",
    "Perplexity",
    "TopicAlignment",
    "TopicDetails",
    "Moderation",
    "ModerationMatch",
    "SemanticModerator",
    "CATEGORIES",
    "LanguageCheck",
    "LanguageGuess",
    "read_posts",
    "PostRecord",
    "PostsFileError",
]
