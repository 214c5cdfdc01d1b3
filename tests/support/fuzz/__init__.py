"""Fuzzing streamser's input decoders and protocol parsers: one implementation shared by
the suite (tests/streamser/fuzz) and bin/fuzz, so that a long run and the tests
check the same property on the same targets.

- `audio_inputs`, `protocol_inputs`: hypothesis strategies of each target's inputs,
  as bytes (what a corpus file holds);
- `targets`: what each input is fed to, and the checks each target adds;
- `harness`: the property and its checks, the watchdog, failure signatures, known
  failures, the corpus, and the hypothesis profile the tests use;
- `seeds`: valid inputs of every target, kept in the corpus.
"""
