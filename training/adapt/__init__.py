"""Cross-corpus adaptation: DIDAN/LIDAN (implicit distribution alignment) and its baselines.

`ida` holds the alignment loss, `baselines` MMD, CORAL and DANN, `network` the
regression network, `features` its encoder-vector input, `trainer` one run, `targets`
unlabelled target recordings (read as sound only), `workflow` and `cli` the `streamser
adapt` command, `checkpoint` its output and export (`encoder_export` for a network on
encoder vectors: the encoder goes into the model file), `diagnostics` the
label-free checks of an adapted model, `experiment` the protocol's runs, `develop` the
choice of alignment weights on development tasks, `significance` the paired bootstrap,
`report`, `development_report`, `verdict` (DIDAN against the best row) and
`user_report` docs/CROSS_CORPUS.md, `cross_corpus` the command that runs the protocol
and writes that file (`bin/cross-corpus`), `user_flow` the user's commands run on a
folder of recordings for the transcript that file quotes.
"""
