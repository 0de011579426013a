"""xuefa lesson and quiz widgets (``import widgets as xf``). See widgets/README.md."""

from widgets.grade import MIME, grade, grade_item, grade_slot
from widgets.model import Question, score
from widgets.questions import (
    CaseAnalysis,
    Essay,
    FillBlank,
    MultipleChoice,
    Ordering,
    SingleChoice,
    TrueFalse,
)
from widgets.session import current, setup
from widgets.deadline import DeadlineCalculator
from widgets.progress import ReadingProgress, Section
from widgets.submit import Submit
from widgets.paper import Paper
from widgets.wrongbook import WrongBook

__all__ = [
    "MIME", "grade", "grade_item", "grade_slot", "Question", "score", "setup", "current",
    "SingleChoice", "MultipleChoice", "TrueFalse", "FillBlank", "Ordering", "CaseAnalysis", "Essay",
    "Submit", "Paper", "WrongBook", "ReadingProgress", "Section", "DeadlineCalculator",
]
