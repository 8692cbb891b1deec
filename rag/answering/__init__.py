"""Extractive answering, learned: which retrieved sentence answers, and whether any does.

    question.py   what a question asks for (general question words)
    detect.py     detectors of dates, numbers, names, places, reasons in any text
    features.py   general features of (question, sentence): retrieval scores, MiniLM
                  token MaxSim, term coverage, answer-type fit, names and numbers
    model.py      the fitted models: a conditional logit that chooses the sentence, a
                  logistic regression that decides to answer (models.json, fitted on
                  dev by `python -m evals.train_answerer`, leave-one-document-out checked)
    span.py       the answer phrase inside the quoted sentence
    answerer.py   ExtractiveAnswerer: selects, decides, quotes, cites
"""

from __future__ import annotations

from .answerer import ExtractiveAnswerer, collapse, is_content
from .question import Question, analyze

__all__ = ["ExtractiveAnswerer", "Question", "analyze", "collapse", "is_content"]
