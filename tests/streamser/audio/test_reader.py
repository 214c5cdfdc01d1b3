"""Opening inputs: paths, pipes, stdin, raw PCM and the containers libsndfile reads."""

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from support.audio import sine, wav_bytes

from streamser.audio import AudioFormat, Encoding, open_audio
from streamser.errors import AudioFormatError, SourceError


def test_wav_from_a_path_and_from_a_pipe_decode_identically(tmp_path):
    signal = np.stack([sine(300, 0.3, 22050), sine(600, 0.3, 22050)], axis=1)
    path = tmp_path / "stereo.wav"
    path.write_bytes(wav_bytes(signal, 22050))
    with open_audio(path) as from_path:
        a = from_path.read_all()
    with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
        with open_audio(cat.stdout) as from_pipe:
            assert not cat.stdout.seekable()
            b = from_pipe.read_all()
    np.testing.assert_array_equal(a, b)
    assert a.shape == signal.shape


@pytest.mark.tts
def test_espeak_stdout_with_its_bogus_length_field_reads_to_the_end(tmp_path):
    espeak = shutil.which("espeak-ng")
    assert espeak, "bin/setup installs espeak-ng"
    text = "The quick brown fox jumps over the lazy dog."
    reference = tmp_path / "ref.wav"
    subprocess.run([espeak, "-w", str(reference), text], check=True)
    with subprocess.Popen([espeak, "--stdout", text], stdout=subprocess.PIPE) as proc:
        with open_audio(proc.stdout) as reader:
            assert reader.format.sample_rate_hz == 22050
            piped = reader.read_all()
    expected, _ = sf.read(reference, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(piped, expected)


@pytest.mark.parametrize(("fmt", "subtype"), [("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_other_containers_are_read_from_paths(tmp_path, fmt, subtype):
    signal = sine(440, 0.5, 16000)
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, signal, 16000, format=fmt, subtype=subtype)
    with open_audio(path) as reader:
        decoded = reader.read_all()[:, 0]
    assert reader.format.sample_rate_hz == 16000
    assert abs(len(decoded) - len(signal)) < 2048
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.argmax(spectrum) * 16000 / len(decoded) == pytest.approx(440, abs=5)


def test_raw_pcm_with_a_declared_format():
    signal = np.stack([sine(200, 0.1, 8000), -sine(200, 0.1, 8000)], axis=1)
    data = wav_bytes(signal, 8000, Encoding.MULAW)[44:]
    fmt = AudioFormat(8000, 2, Encoding.MULAW)
    with open_audio(io.BytesIO(data), raw_format=fmt) as reader:
        decoded = reader.read_all()
    np.testing.assert_allclose(decoded, signal, atol=0.02)


def test_raw_input_that_ends_inside_a_frame_keeps_the_whole_frames_and_warns_once(caplog):
    fmt = AudioFormat(16000, 1, Encoding.PCM_S16)
    with open_audio(io.BytesIO(b"\x00" * 1001), raw_format=fmt) as reader:
        decoded = reader.read_all()
    assert decoded.shape == (500, 1)
    [warning] = caplog.messages
    assert warning.startswith("<stream>: truncated input: the last 1 bytes (from byte 1000)")


@pytest.mark.parametrize("cut", [0, 1], ids=["on a sample boundary", "mid-sample"])
def test_a_wav_file_cut_short_decodes_every_whole_frame_and_warns_once(tmp_path, caplog, cut):
    signal = np.stack([sine(200, 0.1, 8000), sine(300, 0.1, 8000)], axis=1)  # 4-byte frames
    full = wav_bytes(signal, 8000)
    path = tmp_path / "cut.wav"
    path.write_bytes(full[: 44 + 4 * 500 + cut])
    with open_audio(path) as reader:
        decoded = reader.read_all()
    np.testing.assert_array_equal(decoded, open_audio(io.BytesIO(full)).read_all()[:500])
    [warning] = caplog.messages
    assert warning.startswith(f"{path}: truncated input: the data chunk declares 3200 bytes")
    assert ("partial 4-byte frame" in warning) == bool(cut)


def test_a_data_chunk_that_is_not_whole_frames_loses_only_its_partial_frame(caplog):
    data = bytearray(wav_bytes(sine(200, 0.01, 16000), 16000) + b"\x7f")
    data[40:44] = (320 + 1).to_bytes(4, "little")  # 160 frames of 2 bytes, and one byte
    with open_audio(io.BytesIO(bytes(data))) as reader:
        assert reader.read_all().shape == (160, 1)
    [warning] = caplog.messages
    assert "the last 1 bytes (from byte 364) are a partial 2-byte frame" in warning


def test_blocks_do_not_depend_on_block_size(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(wav_bytes(sine(300, 0.37, 16000), 16000, Encoding.PCM_S24))
    with open_audio(path) as reader:
        whole = reader.read_all()
    with open_audio(path) as reader:
        pieces = np.concatenate(list(reader.blocks(frames=97)))
    np.testing.assert_array_equal(whole, pieces)


def test_missing_file_and_directory_are_source_errors(tmp_path):
    with pytest.raises(SourceError, match=r"nope\.wav: no such file"):
        open_audio(tmp_path / "nope.wav")
    with pytest.raises(SourceError, match="is a directory"):
        open_audio(tmp_path)


def test_non_audio_file_is_an_audio_format_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not samples\n" * 20)
    with pytest.raises(AudioFormatError, match=r"notes\.txt: byte 0: not a WAV, FLAC, OGG"):
        open_audio(path)


def test_non_wav_on_a_pipe_says_how_to_declare_raw_input():
    with pytest.raises(AudioFormatError, match="declare it as raw PCM"):
        open_audio(io.BytesIO(b"fLaC\x00\x00\x00\x22" + bytes(64)))
