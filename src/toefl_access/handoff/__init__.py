"""What leaves the store for the people and systems downstream: exports to CSV, JSON Lines,
XLSX, Parquet and ScoreLink (:mod:`.export`, :mod:`.export_typed`), and a report's history,
cancellations and replays of the archive (:mod:`.history`)."""
