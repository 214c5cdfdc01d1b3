"""`streamser synth`: placeholder until SynthEmo lands."""
