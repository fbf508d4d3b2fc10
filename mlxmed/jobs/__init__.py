"""Training jobs started from a page: what they do (:class:`JobSpec`), the child process that
runs them and reports each step (:mod:`mlxmed.jobs.worker`), and following their progress
(:class:`Job`, :class:`JobState`)."""

from mlxmed.jobs.progress import JobState
from mlxmed.jobs.runner import Job, stop_all
from mlxmed.jobs.spec import JobSpec, check_settings, default_settings, plan_job, resume_spec

__all__ = ["Job", "JobSpec", "JobState", "check_settings", "default_settings", "plan_job",
           "resume_spec", "stop_all"]
