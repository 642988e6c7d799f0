"""The wire formats and the canonical record: pure code, no I/O but files and streams.

Layouts as data (:mod:`.layout`, the CSVs in ``layouts/``), the canonical
:class:`~.record.Record` and its score rules (:mod:`.record`), fixed-length lines
(:mod:`.textformat`: one line; :mod:`.textread`: files and streams; :mod:`.batch`: many lines
at once into Arrow columns), JSON (:mod:`.jsonformat`), reading either (:mod:`.parse`),
writing records out (:mod:`.output`, :mod:`.writers`), and the protection of sensitive fields
as they are read (:mod:`.sensitive`). Nothing here imports the client, the sync or the store.
"""
