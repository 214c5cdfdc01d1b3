"""Cross-corpus adaptation: DIDAN/LIDAN (implicit distribution alignment) and its baselines.

`ida` holds the alignment loss, `baselines` MMD, CORAL and DANN, `network` the
regression network, `trainer` one run, `experiment` the six-task protocol,
`develop` the choice of alignment weights on development tasks, `report` and
`development_report` docs/CROSS_CORPUS.md, `cross_corpus` the command that runs the
protocol and writes that file (`bin/cross-corpus`), `cli` the `streamser adapt` command.
"""
