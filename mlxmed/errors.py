"""The one exception type users see: a single line that says what is wrong and what to do."""


class MlxmedError(Exception):
    """A user-facing error. Its message is one line naming the file/row/field and the fix."""
