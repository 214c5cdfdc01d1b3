"""Out-of-distribution detection on the training side: the gate's calibration and its evaluation.

`calibration` makes the gate's parameters and thresholds at export, `sets` the OOD
evaluation sets (with `music` for the non-speech set), `metrics` how well a score
separates ID from OOD, `odin` ODIN with input perturbation, `evaluation` the
per-method, per-set evaluation of `streamser evaluate --ood`, `evaluate_model` a
model's outputs for it, and `report` its tables. The runtime's own scores live in
`streamser.ood`.
"""
