"""The accurate tier: a pretrained speech encoder under an AM-softmax head.

The encoder is Smart Turn v3.2 (Whisper-tiny's encoder fine-tuned for end-of-turn
detection), an int8 ONNX file shipped inside the pinned `pipecat-ai` wheel:

- `fetch`: downloads the wheel with pip, verifies it and extracts the encoder, its
  feature code and its licences into a cache directory (`bin/fetch-encoder`);
- `frontend`: Whisper's log-mel features in ONNX operators, so the model takes a
  waveform like the fast one and the runtime stays unchanged;
- `graph`: the encoder's graph with its inner tensors exposed and pooled;
- `embeddings`: those vectors per utterance, computed once and cached;
- `head`: the trained part (AM-softmax, attribute control, speaker normalisation);
- `row`: the head as a cross-validation row (`streamser evaluate --cv loso --head`);
- `export`: front end, encoder and head as one model file;
- `recipe`, `card`: the shipped model, its evaluation and card (`bin/make-accurate-model`);
- `distill`, `distill_recipe`: the fast network taught by the accurate tier
  (`bin/distill-fast-model`).
"""
