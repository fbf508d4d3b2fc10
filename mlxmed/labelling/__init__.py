"""Labelling notes by hand: the labels file `mlxmed data` reads (:class:`LabelStore`), the
order notes come in (:mod:`mlxmed.labelling.queue`), form answers into task values, and one
person's session over a notes file (:class:`LabelSession`)."""

from mlxmed.labelling.form import answer_from_form
from mlxmed.labelling.queue import INPUT_ORDER, LEAST_CERTAIN, ORDERS, LabelQueue
from mlxmed.labelling.session import LabelSession, Suggestion, read_unlabelled
from mlxmed.labelling.store import LabelStore, validated

__all__ = ["INPUT_ORDER", "LEAST_CERTAIN", "ORDERS", "LabelQueue", "LabelSession", "LabelStore",
           "Suggestion", "answer_from_form", "read_unlabelled", "validated"]
