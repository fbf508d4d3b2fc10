"""Reviewing what a model extracted: an output beside its notes (:class:`ReviewTable`), the
sentences a classification depends on (:mod:`mlxmed.review.evidence`), where a note states
each extracted value (:mod:`mlxmed.review.spans`), and corrections kept as gold labels."""

from mlxmed.review.evidence import Evidence, leave_one_out, note_evidence
from mlxmed.review.spans import Mark, answer_marks, segments, sentence_spans, value_spans
from mlxmed.review.table import ReviewRow, ReviewTable, match_notes, read_output

__all__ = ["Evidence", "Mark", "ReviewRow", "ReviewTable", "answer_marks", "leave_one_out",
           "match_notes", "note_evidence", "read_output", "segments", "sentence_spans",
           "value_spans"]
