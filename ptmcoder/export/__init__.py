"""REFI-QDA exchange with qualitative-analysis programs (NVivo, ATLAS.ti, MAXQDA,
QualCoder): codebooks (:mod:`ptmcoder.export.qdc`), projects with the units and
every rater's codings (:mod:`ptmcoder.export.qdpx`), and codings made in those
programs back as a long table (:mod:`ptmcoder.export.codings`). What the formats
share (GUIDs, offsets, text cleaning, the streaming writer) is in
:mod:`ptmcoder.export.refi`."""
