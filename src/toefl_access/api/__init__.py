"""The TOEFL Access API: the client (:mod:`.client`), its answers (:mod:`.answers`), the
key (:mod:`.apikey`) and the UTC dates of its windows (:mod:`.dates`)."""
