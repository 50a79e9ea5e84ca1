"""`make eval`: detection (and masking) measured on public corpora typed into sessions the way the agent streams them.

The corpora live under evaluation/corpus/, each source in its own folder with its licence and provenance; they are
test data only and never ship in the layer. See docs/evaluation.md.
"""
