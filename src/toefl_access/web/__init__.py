"""The read-only status page (``toefl-access serve``)."""
