"""The accurate tier: a pretrained speech encoder under an AM-softmax head.

The encoder is Smart Turn v3.2 (Whisper-tiny's encoder fine-tuned for end-of-turn
detection), an int8 ONNX file shipped inside the pinned `pipecat-ai` wheel:

- `fetch`: downloads the wheel with pip, verifies it and extracts the encoder, its
  feature code and its licences into a cache directory (`bin/fetch-encoder`);
- `graph`: the encoder's graph with its inner tensors exposed as outputs;
- `frontend`: Whisper's log-mel features in ONNX operators, so the model takes a
  waveform like the fast one and the runtime stays unchanged.
"""
